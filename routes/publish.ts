import type { FastifyPluginAsync, FastifySchema, FastifySchemaCompiler } from 'fastify'
import { TypeCompiler, ValueErrorType, type ValueError } from '@sinclair/typebox/compiler'
import type { TSchema } from '@sinclair/typebox'
import { sendError, useJsonErrors } from '../lib/support/http-errors.js'
import { rateLimitConfig } from '../lib/support/rate-limit.js'
import { isReservedType } from '../lib/protocol/reserved-types.js'
import type { OutgoingMessage } from '../lib/delivery/dispatcher.js'
import { jsonDepth } from '../lib/support/json-depth.js'
import { bearerKeyCheck } from '../lib/support/bearer.js'
import { PublishAnswer, PublishBody } from '../schemas/http.js'
import { HttpError } from '../schemas/errors.js'

/** Largest body `POST /publish` reads; a larger one gets 413. */
export const PUBLISH_BODY_LIMIT = 1024 * 1024
/** Deepest `data` accepted (contract section 8): the body is one level more. */
export const MAX_DATA_DEPTH = 32

/**
 * Validates with TypeBox's compiler rather than the host's Ajv, whose Fastify
 * defaults would strip an extra field or coerce `"true"` to `true` instead of
 * refusing them. The message names the field and what is wrong with it.
 */
const strictCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema as TSchema)
  const part = httpPart ?? 'body'
  return (data: unknown) => {
    if (check.Check(data)) return { value: data }
    return { error: new Error(describe(part, check.Errors(data).First()!)) }
  }
}

function describe(part: string, error: ValueError): string {
  const where = `${part}${error.path}`
  if (error.path === '') return `the ${part} must be a JSON object`
  if (error.type === ValueErrorType.ObjectRequiredProperty) return `${where} is required`
  if (error.type === ValueErrorType.ObjectAdditionalProperties) return `${where} is not a field of this ${part}`
  const reason = typeof error.schema.errorMessage === 'string' ? error.schema.errorMessage : error.message.toLowerCase()
  return `${where}: ${reason}`
}

/**
 * `POST /publish` (contract section 8): the application, standalone, pushes
 * one event to users, to a channel's members or to everyone. Registered
 * always; without ROOMLER__REALTIME__API_KEY it answers 404 (disabled).
 */
const publishRoute: FastifyPluginAsync = async (fastify) => {
  useJsonErrors(fastify)
  const apiKey = fastify.realtimeConfig.realtime.apiKey
  const checkKey = apiKey === undefined ? undefined : bearerKeyCheck(apiKey)
  const dispatcher = fastify.wsDispatcher

  // Only JSON is read here: any other Content-Type is a 415, and a body nested
  // past the limit is a 400 before it is parsed (no parser's stack to overflow).
  const parseJson = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string
    if (jsonDepth(text, MAX_DATA_DEPTH + 1) > MAX_DATA_DEPTH + 1) {
      const error = Object.assign(new Error(`body/data nests deeper than ${MAX_DATA_DEPTH} levels`), { statusCode: 400 })
      return done(error, undefined)
    }
    parseJson(request, text, done)
  })

  fastify.post<{ Body: PublishBody }>(
    '/publish',
    {
      bodyLimit: PUBLISH_BODY_LIMIT,
      config: { ...rateLimitConfig(fastify.realtimeConfig.realtime.httpRateLimitPerMin), openApiSecurity: [{ apiKey: [] }] },
      schema: {
        summary: 'Push one event to users, a channel’s members or everyone',
        tags: ['publish'],
        body: PublishBody,
        response: { 202: PublishAnswer, 400: HttpError, 401: HttpError, 404: HttpError, 413: HttpError, 415: HttpError, 429: HttpError, 503: HttpError },
      },
      validatorCompiler: strictCompiler,
      // Before the body is read (but after the rate limit): without the key nothing about it is looked at.
      preParsing: async (request, reply, payload) => {
        if (checkKey === undefined) {
          sendError(reply, 404, 'not_found', 'POST /publish is disabled: set ROOMLER__REALTIME__API_KEY to enable it')
          return payload
        }
        const verdict = checkKey(request.headers.authorization)
        if (verdict !== 'ok') {
          sendError(reply, 401, 'unauthorized', verdict === 'wrong' ? 'the API key is not valid' : 'send the API key as Authorization: Bearer <API_KEY>')
        }
        return payload
      },
    },
    async (request, reply) => {
      const body = request.body
      const named = (['user_ids', 'channel_id', 'everyone'] as const).filter((field) => body[field] !== undefined)
      if (named.length !== 1) {
        const found = named.length === 0 ? 'none was given' : `got ${named.join(' and ')}`
        return sendError(reply, 400, 'bad_request', `name the recipients with exactly one of user_ids, channel_id or everyone: ${found}`)
      }
      if (isReservedType(body.type)) {
        return sendError(reply, 400, 'bad_request', `type ${JSON.stringify(body.type)} is reserved by the protocol; choose another`)
      }
      const message: OutgoingMessage = { type: body.type, data: body.data }
      // Connections are registered under lowercase ids, as tokens and the store give them.
      const exclude = new Set(body.exclude_user_ids?.map((id) => id.toLowerCase()))
      if (body.user_ids) {
        const users = body.user_ids.map((id) => id.toLowerCase())
        if (new Set(users).size !== users.length) {
          return sendError(reply, 400, 'bad_request', 'body/user_ids names the same user twice')
        }
        dispatcher.broadcast(users, message, { exclude })
      } else if (body.channel_id !== undefined) {
        try {
          await dispatcher.sendToChannel(body.channel_id.toLowerCase(), message, { exclude })
        } catch (error) {
          request.log.warn({ err: error }, 'publish: channel members could not be read')
          return sendError(reply, 503, 'unavailable', 'the channel’s members could not be read; retry later')
        }
      } else {
        dispatcher.toEveryone(message, { exclude })
      }
      return reply.code(202).send({ accepted: true } satisfies PublishAnswer)
    },
  )
}

export default publishRoute
