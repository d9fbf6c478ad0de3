import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox'
import { ChosenPresence, ObjectId } from './common.js'

/**
 * Exactly `{ type, data }`, both closed: an extra field is an error, not ignored.
 * `name` is the schema's export name; its `data` is titled `<name>Data`, so
 * that every generator names the payload the same, stable way.
 */
export function clientMessage<K extends string, D extends TProperties>(name: string, type: K, data: D, description: string) {
  return Type.Object(
    {
      type: Type.Literal(type, { title: `${name}Type` }),
      data: Type.Object(data, { additionalProperties: false, title: `${name}Data` }),
    },
    { additionalProperties: false, $id: `client/${type}`, title: name, description },
  )
}

/** `ping` alone may leave `data` out, as Roomler2's web client sends it. */
export const PingMessage = Type.Object(
  {
    type: Type.Literal('ping', { title: 'PingMessageType' }),
    data: Type.Optional(Type.Object({}, { additionalProperties: false, title: 'PingMessageData' })),
  },
  { additionalProperties: false, $id: 'client/ping', title: 'PingMessage', description: 'Application keepalive; answered by pong to this connection only' },
)
export type PingMessage = Static<typeof PingMessage>

export const TypingStartMessage = clientMessage('TypingStartMessage', 'typing:start', { channel_id: ObjectId }, 'The sender started typing in a channel')
export type TypingStartMessage = Static<typeof TypingStartMessage>

export const TypingStopMessage = clientMessage('TypingStopMessage', 'typing:stop', { channel_id: ObjectId }, 'The sender stopped typing in a channel')
export type TypingStopMessage = Static<typeof TypingStopMessage>

export const PresenceUpdateMessage = clientMessage('PresenceUpdateMessage', 'presence:update', { presence: ChosenPresence }, 'Set the sender’s presence')
export type PresenceUpdateMessage = Static<typeof PresenceUpdateMessage>

export const AuthRefreshMessage = clientMessage(
  'AuthRefreshMessage',
  'auth:refresh',
  { token: Type.String({ minLength: 1, description: 'A new access token for the same user' }) },
  'Replace the connection’s token with a newer one for the same user',
)
export type AuthRefreshMessage = Static<typeof AuthRefreshMessage>

/** Most ids one presence:subscribe or presence:unsubscribe may name (contract section 5). */
export const MAX_SUBSCRIBE_IDS = 200

const subscribedIds = {
  user_ids: Type.Array(ObjectId, { minItems: 1, maxItems: MAX_SUBSCRIBE_IDS, description: `ObjectIds, at most ${MAX_SUBSCRIBE_IDS}` }),
}

export const PresenceSubscribeMessage = clientMessage(
  'PresenceSubscribeMessage',
  'presence:subscribe',
  subscribedIds,
  'Receive presence:update for these users (PRESENCE_SCOPE=subscribed; with everyone they come anyway); answered by presence:state',
)
export type PresenceSubscribeMessage = Static<typeof PresenceSubscribeMessage>

export const PresenceUnsubscribeMessage = clientMessage(
  'PresenceUnsubscribeMessage',
  'presence:unsubscribe',
  subscribedIds,
  'Stop receiving presence:update for these users (PRESENCE_SCOPE=subscribed; with everyone, it changes nothing)',
)
export type PresenceUnsubscribeMessage = Static<typeof PresenceUnsubscribeMessage>

/** Every message a client may send that the server handles, by type (lib/protocol validates and dispatches these). */
export const clientMessages = {
  ping: PingMessage,
  'typing:start': TypingStartMessage,
  'typing:stop': TypingStopMessage,
  'presence:update': PresenceUpdateMessage,
  'auth:refresh': AuthRefreshMessage,
  'presence:subscribe': PresenceSubscribeMessage,
  'presence:unsubscribe': PresenceUnsubscribeMessage,
} as const satisfies Record<string, TObject>

/** Every message of the contract a client may send: what the documents publish (today, all of them are handled). */
export const contractClientMessages = clientMessages

export type ClientMessageType = keyof typeof clientMessages
export type ClientMessageOf<T extends ClientMessageType> = Static<(typeof clientMessages)[T]>

export const ClientMessage = Type.Union(Object.values(clientMessages), { $id: 'client/message' })
export type ClientMessage = Static<typeof ClientMessage>

/** Any frame of the contract a client may send (the typed client's outgoing type). */
export const ClientFrame = Type.Union(Object.values(contractClientMessages), { title: 'ClientFrame' })
export type ClientFrame = Static<typeof ClientFrame>
