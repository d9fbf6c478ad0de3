import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox'
import { ObjectId, Presence } from './common.js'
import { ErrorCode, ErrorDetails } from './errors.js'

function message<K extends string, D extends TProperties>(type: K, data: D, description: string) {
  return Type.Object(
    {
      type: Type.Literal(type),
      data: Type.Object(data, { additionalProperties: false }),
    },
    { additionalProperties: false, $id: `server/${type}`, description },
  )
}

export const ConnectedMessage = message('connected', { user_id: ObjectId }, 'First message on every connection')
export type ConnectedMessage = Static<typeof ConnectedMessage>

export const PongMessage = message('pong', {}, 'Answer to ping, to that connection only')
export type PongMessage = Static<typeof PongMessage>

const typing = { channel_id: ObjectId, user_id: ObjectId }
export const TypingStartEvent = message('typing:start', typing, 'Another member started typing in a channel')
export type TypingStartEvent = Static<typeof TypingStartEvent>
export const TypingStopEvent = message('typing:stop', typing, 'Another member stopped typing in a channel')
export type TypingStopEvent = Static<typeof TypingStopEvent>

export const PresenceUpdateEvent = message(
  'presence:update',
  { user_id: ObjectId, presence: Presence },
  'A user’s presence: the real state to the user’s own connections, the visible one to everyone else',
)
export type PresenceUpdateEvent = Static<typeof PresenceUpdateEvent>

export const ErrorMessage = message(
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
  error: ErrorMessage,
} as const satisfies Record<string, TObject>

export type ServerMessageType = keyof typeof serverMessages

export const ServerMessage = Type.Union(Object.values(serverMessages), { $id: 'server/message' })
export type ServerMessage = Static<typeof ServerMessage>

/** An event the application pushes: any type the protocol does not reserve. */
export interface ApplicationEvent {
  type: string
  data: Record<string, unknown>
}
