import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox'
import { ObjectId, Offset, Presence } from './common.js'
import { ErrorCode, ErrorDetails } from './errors.js'

/** As `clientMessage`: `{ type, data }` closed, the schema titled `name`, its data `<name>Data`. */
function message<K extends string, D extends TProperties>(name: string, type: K, data: D, description: string) {
  return Type.Object(
    {
      type: Type.Literal(type, { title: `${name}Type` }),
      data: Type.Object(data, { additionalProperties: false, title: `${name}Data` }),
    },
    { additionalProperties: false, $id: `server/${type}`, title: name, description },
  )
}

/**
 * `offset` and `recovered` are contract section 8 (missed events). `offset`
 * is always sent once the server keeps a history; optional here until then,
 * so that what the server sends today still matches.
 */
export const ConnectedMessage = message(
  'ConnectedMessage',
  'connected',
  {
    user_id: ObjectId,
    offset: Type.Optional(Type.String({ ...Offset, description: 'The current end of the history, or `since` itself on a resume' })),
    recovered: Type.Optional(Type.Boolean({ description: 'On a resume (?since=): true when every missed event follows, false when the client must refetch' })),
  },
  'First message on every connection',
)
export type ConnectedMessage = Static<typeof ConnectedMessage>

export const PongMessage = message('PongMessage', 'pong', {}, 'Answer to ping, to that connection only')
export type PongMessage = Static<typeof PongMessage>

const typing = { channel_id: ObjectId, user_id: ObjectId }
export const TypingStartEvent = message('TypingStartEvent', 'typing:start', typing, 'Another member started typing in a channel')
export type TypingStartEvent = Static<typeof TypingStartEvent>
export const TypingStopEvent = message('TypingStopEvent', 'typing:stop', typing, 'Another member stopped typing in a channel')
export type TypingStopEvent = Static<typeof TypingStopEvent>

export const PresenceUpdateEvent = message(
  'PresenceUpdateEvent',
  'presence:update',
  { user_id: ObjectId, presence: Presence },
  'A user’s presence: the real state to the user’s own connections, the visible one to everyone else',
)
export type PresenceUpdateEvent = Static<typeof PresenceUpdateEvent>

export const PresenceStateMessage = message(
  'PresenceStateMessage',
  'presence:state',
  {
    presences: Type.Record(Type.String(), Presence, {
      description: 'The visible presence of each user a presence:subscribe named (the asker’s own: the real one)',
    }),
  },
  'The answer to presence:subscribe, in either scope',
)
export type PresenceStateMessage = Static<typeof PresenceStateMessage>

export const ErrorMessage = message(
  'ErrorMessage',
  'error',
  {
    code: ErrorCode,
    message: Type.String(),
    request_type: Type.Optional(Type.String({ description: 'The type of the message that caused it, when known' })),
    details: Type.Optional(ErrorDetails),
  },
  'A message was refused; the connection stays open',
)
export type ErrorMessage = Static<typeof ErrorMessage>

/** Every message the protocol itself sends, by type (application events are open). */
export const serverMessages = {
  connected: ConnectedMessage,
  pong: PongMessage,
  'typing:start': TypingStartEvent,
  'typing:stop': TypingStopEvent,
  'presence:update': PresenceUpdateEvent,
  'presence:state': PresenceStateMessage,
  error: ErrorMessage,
} as const satisfies Record<string, TObject>

export type ServerMessageType = keyof typeof serverMessages

export const ServerMessage = Type.Union(Object.values(serverMessages), { $id: 'server/message' })
export type ServerMessage = Static<typeof ServerMessage>

/** An event the application pushes: any type the protocol does not reserve, with its place in the history. */
export interface ApplicationEvent {
  type: string
  data: Record<string, unknown>
  offset?: string
}

/** Any frame a client may receive. */
export type ServerFrame = ServerMessage | ApplicationEvent
