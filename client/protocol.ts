/**
 * The wire protocol as the client sees it (contract section 3), written out
 * as plain TypeScript so that the client package carries no schema library.
 * The TypeBox definitions in schemas/ stay the one source: the type test
 * (test/client/types.ts) fails to compile when these drift from them.
 */

/** A MongoDB ObjectId as 24 hex digits. */
export type ObjectId = string
/** A state a connected user may choose. */
export type ChosenPresence = 'online' | 'idle' | 'dnd' | 'invisible'
/** A user's presence: the chosen state while connected, offline with no connection. */
export type Presence = ChosenPresence | 'offline'
/** The `error` codes of contract section 3; a newer server may send others (the client passes them on). */
export type ErrorCode = 'invalid_json' | 'invalid_message' | 'unknown_type' | 'forbidden' | 'rate_limited' | 'unavailable' | 'unauthorized'

export interface ConnectedMessage {
  type: 'connected'
  /** `offset` and `recovered`: contract section 8 (missed events). */
  data: { user_id: string; offset?: string; recovered?: boolean }
}
export interface PongMessage {
  type: 'pong'
  data: {}
}
export interface TypingStartEvent {
  type: 'typing:start'
  data: { channel_id: string; user_id: string }
}
export interface TypingStopEvent {
  type: 'typing:stop'
  data: { channel_id: string; user_id: string }
}
export interface PresenceUpdateEvent {
  type: 'presence:update'
  data: { user_id: string; presence: Presence }
}
/** The answer to presence:subscribe (PRESENCE_SCOPE=subscribed). */
export interface PresenceStateMessage {
  type: 'presence:state'
  data: { presences: Record<string, Presence> }
}
export interface ErrorMessage {
  type: 'error'
  data: { code: ErrorCode; message: string; request_type?: string; details?: { field: string; reason: string } }
}

/** Every message the protocol itself sends. */
export type ServerMessage = ConnectedMessage | PongMessage | TypingStartEvent | TypingStopEvent | PresenceUpdateEvent | PresenceStateMessage | ErrorMessage
export type ServerMessageType = ServerMessage['type']

/** An event the application pushes: any type the protocol does not reserve, with its place in the history. */
export interface ApplicationEvent {
  type: string
  data: Record<string, unknown>
  offset?: string
}

/** Any frame a client may receive. */
export type ServerFrame = ServerMessage | ApplicationEvent

export interface PingMessage {
  type: 'ping'
  data?: {}
}
export interface TypingStartMessage {
  type: 'typing:start'
  data: { channel_id: string }
}
export interface TypingStopMessage {
  type: 'typing:stop'
  data: { channel_id: string }
}
export interface PresenceUpdateMessage {
  type: 'presence:update'
  data: { presence: ChosenPresence }
}
export interface AuthRefreshMessage {
  type: 'auth:refresh'
  data: { token: string }
}

export interface PresenceSubscribeMessage {
  type: 'presence:subscribe'
  /** At most 200 ids a message (contract section 5). */
  data: { user_ids: string[] }
}
export interface PresenceUnsubscribeMessage {
  type: 'presence:unsubscribe'
  data: { user_ids: string[] }
}

/** Every message a client may send. */
export type ClientMessage =
  | PingMessage
  | TypingStartMessage
  | TypingStopMessage
  | PresenceUpdateMessage
  | PresenceSubscribeMessage
  | PresenceUnsubscribeMessage
  | AuthRefreshMessage

/** `GET /presence`'s answer. */
export interface PresenceAnswer {
  presences: Record<string, Presence>
}

/** Most ids one `GET /presence` may ask about (contract section 5). */
export const MAX_PRESENCE_IDS = 200
/** The server's TYPING_TIMEOUT_MS default (contract section 4). */
export const TYPING_TIMEOUT_MS = 10_000
/** The server's HEARTBEAT_MS default (contract section 6). */
export const HEARTBEAT_MS = 30_000

/** Close codes the server sends (lib/connections/close-codes.ts) that the client acts on. */
export const CLOSE_POLICY_VIOLATION = 1008
export const CLOSE_TOKEN_EXPIRED = 4001
