/**
 * A typed client for Roomler Realtime, for browsers and Node, with no
 * runtime dependency. The WebSocket constructor is injected (default
 * `globalThis.WebSocket`; in Node before 22, pass `WebSocket` from `ws`).
 *
 *   const client = new RealtimeClient({ url: 'wss://chat.example/ws', token, getToken })
 *   client.on('typing:start', (m) => show(m.data.user_id, m.data.channel_id))
 *   client.onState((change) => render(change.state))
 *   client.connect()
 *
 * The modules: realtime-client (the connection and its lifecycle),
 * heartbeat (dead-link detection), token-refresher and token-expiry
 * (a new token before `exp`), retry-policy (backoff, refusals),
 * typing-sender (the user's own typing), resume-point (the offset a
 * reconnect resumes from), presence-subscriptions (the users followed
 * under PRESENCE_SCOPE=subscribed), presence-map and typing-set (others'
 * state), protocol (the wire types), options (the public types).
 */
export { RealtimeClient } from './realtime-client.js'
export { RealtimeError, isMessage } from './options.js'
export type {
  ClientState,
  FetchLike,
  Frame,
  HeartbeatOptions,
  KnownType,
  MessageOf,
  OnlineEvents,
  RealtimeClientOptions,
  StateChange,
  WebSocketConstructor,
  WebSocketLike,
} from './options.js'
export { SILENT_FAILURES_BEFORE_NEW_TOKEN } from './retry-policy.js'
export { HEARTBEAT_TIMEOUT_MS } from './heartbeat.js'
export { PresenceMap, type PresenceChange } from './presence-map.js'
export type { Resume } from './resume-point.js'
export { STALE_TYPING_MS, TypingSet, type TypingChange } from './typing-set.js'
export { HEARTBEAT_MS, MAX_PRESENCE_IDS, TYPING_TIMEOUT_MS } from './protocol.js'
export type {
  ApplicationEvent,
  AuthRefreshMessage,
  ChosenPresence,
  ClientMessage,
  ConnectedMessage,
  ErrorCode,
  ErrorMessage,
  ObjectId,
  PingMessage,
  PongMessage,
  Presence,
  PresenceAnswer,
  PresenceStateMessage,
  PresenceUpdateEvent,
  PresenceUpdateMessage,
  ServerFrame,
  ServerMessage,
  ServerMessageType,
  TypingStartEvent,
  TypingStartMessage,
  TypingStopEvent,
  TypingStopMessage,
} from './protocol.js'
