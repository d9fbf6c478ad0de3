/** The client's public types: what it is given, what it reports, what its listeners receive. */
import type { ApplicationEvent, ServerMessage, ServerMessageType } from './protocol.js'

/** The part of a WebSocket this client uses: the browser's, Node 22's and the `ws` package's all fit. */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  // `any`: each implementation has its own event classes; the client reads only the fields below.
  onopen: ((event: any) => void) | null
  onmessage: ((event: any) => void) | null
  onerror: ((event: any) => void) | null
  onclose: ((event: any) => void) | null
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export type FetchLike = (url: string, init?: { headers?: Record<string, string> }) => Promise<{ status: number; json(): Promise<unknown> }>

/** Where the browser says the network is back (`window`, or a worker's `self`): anything with add/removeEventListener. */
export interface OnlineEvents {
  addEventListener(type: 'online', listener: () => void): void
  removeEventListener(type: 'online', listener: () => void): void
}

/** `connecting` the first time, `open` once `connected` arrived, `reconnecting` after a drop, `closed` for good. */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface StateChange {
  state: ClientState
  previous: ClientState
  /** What ended the last connection or attempt, when something did. */
  reason?: {
    /** The WebSocket close code. */
    code?: number
    /** The HTTP status of a refused upgrade, when it could be learned. */
    status?: number
    message: string
  }
  /** With `reconnecting`: which retry comes next, and after how long. */
  attempt?: number
  delayMs?: number
}

export interface HeartbeatOptions {
  /** After this long without a frame from the server, send an application `ping`. Default HEARTBEAT_MS, 30 000. */
  idleMs?: number
  /** With no frame at all this long after that ping, the link is dead: drop it and reconnect. Default 10 000. */
  timeoutMs?: number
}

export interface RealtimeClientOptions {
  /**
   * The service's WebSocket URL, e.g. `wss://chat.example/ws`; or a function
   * called before every attempt (to move to another instance after a drop).
   * `getPresence` asks the instance of the last attempt.
   */
  url: string | (() => string)
  /** A Roomler2 access token. */
  token: string
  /**
   * Asked for a new token: a little before the token's `exp` (then sent as
   * `auth:refresh`), when the connection's token expired (close 4001), or
   * when an upgrade was refused with 401.
   */
  getToken?: () => string | Promise<string>
  /**
   * How long before the token's `exp` to ask `getToken` (at most half the
   * token's remaining life); default 60 000. `false`: only after a 4001 close.
   */
  refreshAheadMs?: number | false
  /** Default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor
  /** For `getPresence` and for learning why a browser's upgrade failed; default `globalThis.fetch`. */
  fetch?: FetchLike
  /** Backoff between reconnects: a random delay in [cap/2, cap], cap = min(maxDelayMs, initialDelayMs · 2^(attempt-1)). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; maxAttempts?: number }
  /**
   * `startTyping` sends `typing:start` at most once per `renewMs` while it is
   * called (keep it under the server's TYPING_TIMEOUT_MS, 10 s by default), and
   * `typing:stop` once it has not been called for `idleMs`.
   */
  typing?: { renewMs?: number; idleMs?: number }
  /** How long `ping()` waits for its pong. */
  pingTimeoutMs?: number
  /** Dead-link detection; `false` turns it off. */
  heartbeat?: HeartbeatOptions | false
  /** An upgrade that has not brought `connected` within this long is abandoned and retried. Default 20 000. */
  connectTimeoutMs?: number
  /**
   * An offset kept from before (`client.offset`, saved when the page went
   * away): the first connect resumes from it, and `onResume` says whether
   * everything since was recovered. Later reconnects resume by themselves.
   */
  since?: string
  /** Where `online` events come from; default `globalThis` when it has `addEventListener` (a page or a worker). `false`: none. */
  onlineEvents?: OnlineEvents | false
}

/** What a listener of `type` receives: the protocol's own message, or an application event. */
export type MessageOf<K extends string, Events> = K extends ServerMessageType
  ? Extract<ServerMessage, { type: K }>
  : K extends keyof Events
    ? { type: K; data: Events[K]; offset?: string }
    : ApplicationEvent

/** The types a listener may name: the protocol's, the application's declared ones, or any other string. */
export type KnownType<Events> = ServerMessageType | (keyof Events & string)

/** Any frame the client delivers to `onMessage`. */
export type Frame<Events = {}> = ServerMessage | { [K in keyof Events & string]: MessageOf<K, Events> }[keyof Events & string] | ApplicationEvent

/**
 * Narrows a frame from `onMessage` to one type. (TypeScript cannot narrow
 * `frame.type === '…'` alone: application events keep the union open, so
 * every branch still admits an event of any type.)
 */
export function isMessage<K extends KnownType<Events>, Events = {}>(frame: Frame<Events>, type: K): frame is Frame<Events> & MessageOf<K, Events> {
  return frame.type === type
}

/** Refused by the server: an `error` message answering a request, or a refused upgrade. */
export class RealtimeError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'RealtimeError'
  }
}
