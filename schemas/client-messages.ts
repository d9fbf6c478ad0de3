import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox'
import { ChosenPresence, ObjectId } from './common.js'

/** Exactly `{ type, data }`, both closed: an extra field is an error, not ignored. */
function message<K extends string, D extends TProperties>(type: K, data: D, description: string) {
  return Type.Object(
    {
      type: Type.Literal(type),
      data: Type.Object(data, { additionalProperties: false }),
    },
    { additionalProperties: false, $id: `client/${type}`, description },
  )
}

/** `ping` alone may leave `data` out, as Roomler2's web client sends it. */
export const PingMessage = Type.Object(
  {
    type: Type.Literal('ping'),
    data: Type.Optional(Type.Object({}, { additionalProperties: false })),
  },
  { additionalProperties: false, $id: 'client/ping', description: 'Application keepalive; answered by pong to this connection only' },
)
export type PingMessage = Static<typeof PingMessage>

export const TypingStartMessage = message('typing:start', { channel_id: ObjectId }, 'The sender started typing in a channel')
export type TypingStartMessage = Static<typeof TypingStartMessage>

export const TypingStopMessage = message('typing:stop', { channel_id: ObjectId }, 'The sender stopped typing in a channel')
export type TypingStopMessage = Static<typeof TypingStopMessage>

export const PresenceUpdateMessage = message('presence:update', { presence: ChosenPresence }, 'Set the sender’s presence')
export type PresenceUpdateMessage = Static<typeof PresenceUpdateMessage>

export const AuthRefreshMessage = message(
  'auth:refresh',
  { token: Type.String({ minLength: 1, description: 'A new access token for the same user' }) },
  'Replace the connection’s token with a newer one for the same user',
)
export type AuthRefreshMessage = Static<typeof AuthRefreshMessage>

/** Every message a client may send, by type. */
export const clientMessages = {
  ping: PingMessage,
  'typing:start': TypingStartMessage,
  'typing:stop': TypingStopMessage,
  'presence:update': PresenceUpdateMessage,
  'auth:refresh': AuthRefreshMessage,
} as const satisfies Record<string, TObject>

export type ClientMessageType = keyof typeof clientMessages
export type ClientMessageOf<T extends ClientMessageType> = Static<(typeof clientMessages)[T]>

export const ClientMessage = Type.Union(Object.values(clientMessages), { $id: 'client/message' })
export type ClientMessage = Static<typeof ClientMessage>
