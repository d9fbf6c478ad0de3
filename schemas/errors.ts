import { Type, type Static } from '@sinclair/typebox'

/**
 * Every `error` code the service sends, with when it is sent. One table: the
 * schema, the AsyncAPI document and the README are generated or checked from it.
 */
export const errorCodes = {
  invalid_json: 'The frame is not JSON, or is a binary frame',
  invalid_message: 'The JSON does not match the schema of its type; `details` names the field',
  unknown_type: '`type` is not one a client may send',
  forbidden: 'Typing in a channel the sender is not a member of',
  rate_limited: 'The connection sent more than its rate allows; the message was dropped',
  unavailable: 'A dependency (the database) failed; the client may retry',
  unauthorized: '`auth:refresh` with a bad token',
} as const

export type ErrorCode = keyof typeof errorCodes

/**
 * The codes this service sends. Published open (`openEnum`, lib/docs): a
 * client generated today must still decode an error with a code added later.
 */
export const ErrorCode = Type.Union(
  (Object.keys(errorCodes) as ErrorCode[]).map((code) => Type.Literal(code, { description: errorCodes[code] })),
  { title: 'ErrorCode', openEnum: true },
)

/** Which field of a message was wrong, and how. */
export const ErrorDetails = Type.Object(
  {
    field: Type.String({ description: 'JSON pointer to the offending field, e.g. /data/channel_id' }),
    reason: Type.String({ description: 'What is wrong with it' }),
  },
  { additionalProperties: false, title: 'ErrorDetails' },
)
export type ErrorDetails = Static<typeof ErrorDetails>

/** The JSON body of every 4xx/5xx HTTP answer. */
export const HttpError = Type.Object(
  {
    error: Type.String({ description: 'A stable machine-readable code, e.g. unauthorized' }),
    message: Type.String(),
  },
  { additionalProperties: false, title: 'HttpError' },
)
export type HttpError = Static<typeof HttpError>
