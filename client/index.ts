/**
 * A typed client for Roomler Realtime, for browsers and Node. Every import is
 * `import type`: the compiled module has no runtime dependency, and the
 * WebSocket constructor is injected (default `globalThis.WebSocket`; in Node
 * before 22, pass `WebSocket` from the `ws` package).
 *
 *   const client = new RealtimeClient({ url: 'wss://chat.example/ws', token, getToken })
 *   client.on('typing:start', (m) => show(m.data.user_id, m.data.channel_id))
 *   client.onState((change) => render(change.state))
 *   client.connect()
 */
import type { ClientMessage } from '../schemas/client-messages.js'
import type { ChosenPresence, Presence } from '../schemas/common.js'
import type { PresenceAnswer } from '../schemas/http.js'
import type { ApplicationEvent, ServerMessage, ServerMessageType } from '../schemas/server-messages.js'
import type { CloseCode } from '../lib/connections/close-codes.js'

export type { ClientMessage, ServerMessage, ServerMessageType, ApplicationEvent, ChosenPresence, Presence }

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

/** Failed upgrades in a row with no readable status after which the client asks `getToken` anyway. */
export const SILENT_FAILURES_BEFORE_NEW_TOKEN = 3

/** Whether so many unexplained failed upgrades make the token the likely cause. */
function tokenSuspect(silentFailures: number): boolean {
  return silentFailures >= SILENT_FAILURES_BEFORE_NEW_TOKEN
}

export type FetchLike = (url: string, init?: { headers?: Record<string, string> }) => Promise<{ status: number; json(): Promise<unknown> }>

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

export interface RealtimeClientOptions {
  /** The service's WebSocket URL, e.g. `wss://chat.example/ws`. */
  url: string
  /** A Roomler2 access token. */
  token: string
  /** Asked for a new token when the connection's token expired (close 4001) or an upgrade was refused with 401. */
  getToken?: () => string | Promise<string>
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
}

/** What a listener of `type` receives: the protocol's own message, or an application event. */
export type MessageOf<K extends string, Events> = K extends ServerMessageType
  ? Extract<ServerMessage, { type: K }>
  : K extends keyof Events
    ? { type: K; data: Events[K] }
    : ApplicationEvent

type AnyListener = (message: any) => void

/** WebSocket readyState OPEN, the same in every implementation. */
const OPEN = 1
/** Sent when the client itself closes. */
const NORMAL_CLOSURE = 1000
/** Close codes (lib/connections/close-codes.ts) after which reconnecting cannot help. */
const DO_NOT_RETRY: ReadonlySet<number> = new Set<CloseCode>([1008])
const TOKEN_EXPIRED: CloseCode = 4001
/** Upgrade refusals after which the same request cannot succeed. */
const REFUSED_FOR_GOOD: ReadonlySet<number> = new Set([400, 401, 403])

interface TypingState {
  sentAt: number
  idle: ReturnType<typeof setTimeout>
}

interface PendingPing {
  sentAt: number
  resolve: (ms: number) => void
  reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout>
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

/**
 * One logical connection to the service that survives drops: typed events
 * in, typed requests out, reconnection with jittered exponential backoff.
 * `Events` maps the application's own event types to their `data`.
 */
export class RealtimeClient<Events extends object = {}> {
  #token: string
  #state: ClientState = 'closed'
  #socket: WebSocketLike | null = null
  #userId: string | undefined
  /** Failed attempts since the last connection that reached `connected`. */
  #attempt = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  /** A refused upgrade already asked for a new token; a second refusal is final. */
  #askedForToken = false
  #stopped = true
  #pendingPresence: ChosenPresence | undefined
  readonly #typing = new Map<string, TypingState>()
  readonly #pings: PendingPing[] = []
  readonly #refreshes: Array<{ reject: (error: Error) => void }> = []
  readonly #listeners = new Map<string, Set<AnyListener>>()
  readonly #messageListeners = new Set<(message: ServerMessage | ApplicationEvent) => void>()
  readonly #stateListeners = new Set<(change: StateChange) => void>()
  readonly #WebSocket: WebSocketConstructor
  readonly #fetch: FetchLike | undefined
  /** Failed upgrades in a row whose status could not be learned. */
  #silentFailures = 0
  readonly #options: RealtimeClientOptions

  constructor(options: RealtimeClientOptions) {
    this.#options = options
    this.#token = options.token
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!WebSocketImpl) throw new TypeError('no WebSocket here: pass options.WebSocket (in Node, `WebSocket` from the ws package)')
    this.#WebSocket = WebSocketImpl
    this.#fetch = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis)
  }

  get state(): ClientState {
    return this.#state
  }

  /** The user the token names, once `connected` arrived. */
  get userId(): string | undefined {
    return this.#userId
  }

  /** Opens the connection (and keeps it open until `close()`). */
  connect(): this {
    if (!this.#stopped) return this
    this.#stopped = false
    this.#attempt = 0
    this.#askedForToken = false
    this.#setState('connecting')
    this.#open()
    return this
  }

  /** Closes for good: no reconnect. */
  close(): void {
    this.#stopped = true
    clearTimeout(this.#retryTimer)
    const socket = this.#socket
    this.#dropConnection(new RealtimeError('the client closed'))
    if (socket) socket.close(NORMAL_CLOSURE, 'client closed')
    if (this.#state !== 'closed') this.#setState('closed', { message: 'closed by the client' })
  }

  /** Resolves once the state is `open`; rejects if it becomes `closed` first. */
  ready(): Promise<void> {
    if (this.#state === 'open') return Promise.resolve()
    if (this.#stopped) return Promise.reject(new RealtimeError('the client is closed'))
    return new Promise((resolve, reject) => {
      const off = this.onState((change) => {
        if (change.state === 'open') {
          off()
          resolve()
        } else if (change.state === 'closed') {
          off()
          reject(new RealtimeError(change.reason?.message ?? 'closed', undefined, change.reason?.status))
        }
      })
    })
  }

  /**
   * Listens to one message type: the protocol's (typed from its schema) or an
   * application event. Returns a function that stops listening.
   */
  on<K extends ServerMessageType | (keyof Events & string)>(type: K, listener: (message: MessageOf<K, Events>) => void): () => void
  on(type: string, listener: (message: ApplicationEvent) => void): () => void
  on(type: string, listener: AnyListener): () => void {
    let set = this.#listeners.get(type)
    if (!set) {
      set = new Set()
      this.#listeners.set(type, set)
    }
    set.add(listener)
    return () => set.delete(listener)
  }

  /** As `on`, for the next message of `type` only. */
  once<K extends ServerMessageType | (keyof Events & string)>(type: K, listener: (message: MessageOf<K, Events>) => void): () => void
  once(type: string, listener: (message: ApplicationEvent) => void): () => void
  once(type: string, listener: AnyListener): () => void {
    const off = this.on(type, (message: ApplicationEvent) => {
      off()
      listener(message)
    })
    return off
  }

  /** Stops a listener `on` added (the same as calling the function `on` returned). */
  off(type: string, listener: (message: any) => void): void {
    this.#listeners.get(type)?.delete(listener)
  }

  /** Listens to every message the server sends. */
  onMessage(listener: (message: ServerMessage | ApplicationEvent) => void): () => void {
    this.#messageListeners.add(listener)
    return () => this.#messageListeners.delete(listener)
  }

  /** Listens to state changes (connecting, open, reconnecting, closed). */
  onState(listener: (change: StateChange) => void): () => void {
    this.#stateListeners.add(listener)
    return () => this.#stateListeners.delete(listener)
  }

  /**
   * Call on every keystroke: the first call sends `typing:start`, later calls
   * renew it every `renewMs`, and `typing:stop` follows by itself `idleMs`
   * after the last call. Not open: nothing is sent.
   */
  startTyping(channelId: string): void {
    const { renewMs = 5000, idleMs = 3000 } = this.#options.typing ?? {}
    const now = Date.now()
    let typing = this.#typing.get(channelId)
    if (typing) clearTimeout(typing.idle)
    else this.#typing.set(channelId, (typing = { sentAt: 0, idle: undefined as unknown as ReturnType<typeof setTimeout> }))
    if (typing.sentAt === 0 || now - typing.sentAt >= renewMs) {
      if (this.#send({ type: 'typing:start', data: { channel_id: channelId } })) typing.sentAt = now
    }
    typing.idle = setTimeout(() => this.stopTyping(channelId), idleMs)
  }

  /** Stops typing in a channel now (e.g. the message was sent); nothing is sent unless a start was. */
  stopTyping(channelId: string): void {
    const typing = this.#typing.get(channelId)
    if (!typing) return
    clearTimeout(typing.idle)
    this.#typing.delete(channelId)
    if (typing.sentAt !== 0) this.#send({ type: 'typing:stop', data: { channel_id: channelId } })
  }

  /** Sets the user's presence; while not open, it is sent once the connection opens. */
  setPresence(presence: ChosenPresence): void {
    if (!this.#send({ type: 'presence:update', data: { presence } })) this.#pendingPresence = presence
    else this.#pendingPresence = undefined
  }

  /** An application-level ping: resolves with the round trip in ms when the pong arrives. */
  ping(): Promise<number> {
    return new Promise((resolve, reject) => {
      if (!this.#send({ type: 'ping', data: {} })) return reject(new RealtimeError('not connected'))
      const timeoutMs = this.#options.pingTimeoutMs ?? 10_000
      const pending: PendingPing = {
        sentAt: Date.now(),
        resolve,
        reject,
        timer: setTimeout(() => {
          const index = this.#pings.indexOf(pending)
          if (index >= 0) this.#pings.splice(index, 1)
          reject(new RealtimeError(`no pong within ${timeoutMs} ms`))
        }, timeoutMs),
      }
      this.#pings.push(pending)
    })
  }

  /**
   * Gives the connection a newer token for the same user (`auth:refresh`),
   * extending its life; later reconnects use it. Rejects, keeping the old
   * token, when the server refuses it. Not open: it is kept for the next connect.
   */
  async refreshToken(token: string): Promise<void> {
    if (this.#state !== 'open') {
      this.#token = token
      return
    }
    if (!this.#send({ type: 'auth:refresh', data: { token } })) throw new RealtimeError('not connected')
    const pending = { reject: (_error: Error) => {} }
    const refused = new Promise<never>((_, reject) => {
      pending.reject = reject
      this.#refreshes.push(pending)
    })
    try {
      // The server answers a refusal before the pong of a ping sent after it.
      await Promise.race([this.ping(), refused])
    } finally {
      const index = this.#refreshes.indexOf(pending)
      if (index >= 0) this.#refreshes.splice(index, 1)
    }
    this.#token = token
  }

  /** `GET /presence` for these users: the visible presence of each (one's own is real). */
  async getPresence(userIds: readonly string[]): Promise<Record<string, Presence>> {
    if (!this.#fetch) throw new TypeError('no fetch here: pass options.fetch')
    const url = new URL(this.#options.url)
    url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:'
    url.pathname = url.pathname.replace(/\/ws\/?$/, '') + '/presence'
    url.search = ''
    url.searchParams.set('user_ids', userIds.join(','))
    const response = await this.#fetch(url.toString(), { headers: { authorization: `Bearer ${this.#token}` } })
    const body = (await response.json()) as PresenceAnswer | { error?: string; message?: string }
    if (response.status !== 200 || !('presences' in body)) {
      const refusal = body as { error?: string; message?: string }
      throw new RealtimeError(refusal.message ?? `GET /presence answered ${response.status}`, refusal.error, response.status)
    }
    return body.presences
  }

  #url(): string {
    const url = new URL(this.#options.url)
    url.searchParams.set('token', this.#token)
    return url.toString()
  }

  #open(): void {
    let socket: WebSocketLike
    try {
      socket = new this.#WebSocket(this.#url())
    } catch (error) {
      this.#closeForGood({ message: `could not open a WebSocket: ${String(error)}` })
      return
    }
    this.#socket = socket
    let opened = false
    let status: number | undefined
    let errorMessage: string | undefined
    socket.onopen = () => {
      opened = true
    }
    socket.onmessage = (event: { data: unknown }) => {
      if (this.#socket !== socket || typeof event.data !== 'string') return
      let message: ServerMessage | ApplicationEvent
      try {
        message = JSON.parse(event.data) as ServerMessage | ApplicationEvent
      } catch {
        return
      }
      this.#receive(message)
    }
    socket.onerror = (event: { message?: unknown }) => {
      // Node's `ws` says why a refused upgrade failed; a browser says nothing (status stays unknown).
      errorMessage = typeof event?.message === 'string' ? event.message : undefined
      const match = /Unexpected server response: (\d{3})/.exec(errorMessage ?? '')
      if (match) status = Number(match[1])
    }
    socket.onclose = (event: { code?: number; reason?: string }) => {
      if (this.#socket !== socket) return
      this.#dropConnection(new RealtimeError('the connection closed'))
      if (this.#stopped) return
      if (opened) void this.#afterClose(event.code ?? 1006, event.reason || errorMessage || 'connection closed')
      else void this.#afterFailedUpgrade(event.code ?? 1006, status, errorMessage)
    }
  }

  #receive(message: ServerMessage | ApplicationEvent): void {
    switch (message.type) {
      case 'connected':
        this.#userId = (message as Extract<ServerMessage, { type: 'connected' }>).data.user_id
        this.#attempt = 0
        this.#askedForToken = false
        this.#silentFailures = 0
        this.#setState('open')
        if (this.#pendingPresence) this.setPresence(this.#pendingPresence)
        break
      case 'pong': {
        const pending = this.#pings.shift()
        if (pending) {
          clearTimeout(pending.timer)
          pending.resolve(Date.now() - pending.sentAt)
        }
        break
      }
      case 'error': {
        const error = (message as Extract<ServerMessage, { type: 'error' }>).data
        if (error.request_type === 'auth:refresh') {
          this.#refreshes.shift()?.reject(new RealtimeError(error.message, error.code))
        }
        break
      }
    }
    this.#emit(this.#listeners.get(message.type), message)
    this.#emit(this.#messageListeners, message)
  }

  #emit<T>(listeners: Set<(value: T) => void> | undefined, value: T): void {
    if (!listeners) return
    for (const listener of [...listeners]) {
      try {
        listener(value)
      } catch (error) {
        // A listener's failure is its own: surface it without breaking the client.
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }

  async #afterClose(code: number, message: string): Promise<void> {
    const reason = { code, message }
    if (DO_NOT_RETRY.has(code)) return this.#closeForGood(reason)
    if (code === TOKEN_EXPIRED) {
      if (!(await this.#renewToken(reason))) return
      return this.#retry(reason, 0)
    }
    this.#retry(reason)
  }

  async #afterFailedUpgrade(code: number, status: number | undefined, message: string | undefined): Promise<void> {
    if (status === undefined) status = await this.#probe()
    if (this.#stopped) return
    const reason = {
      code,
      ...(status === undefined ? {} : { status }),
      message: status === undefined ? (message ?? 'the connection could not be opened') : `the upgrade was refused with ${status}`,
    }
    // A browser may learn no status at all (a proxy without CORS headers): after a few such failures the token is suspect too.
    this.#silentFailures = status === undefined ? this.#silentFailures + 1 : 0
    if ((status === 401 || tokenSuspect(this.#silentFailures)) && !this.#askedForToken && this.#options.getToken) {
      this.#askedForToken = true
      if (!(await this.#renewToken(reason))) return
      return this.#retry(reason, 0)
    }
    if (status !== undefined && REFUSED_FOR_GOOD.has(status)) return this.#closeForGood(reason)
    this.#retry(reason)
  }

  /**
   * A browser hides why an upgrade failed. The same request without the
   * upgrade gets the same refusal (401, 403, …) from the service; a network
   * failure or a cross-origin answer leaves it unknown.
   */
  async #probe(): Promise<number | undefined> {
    if (!this.#fetch) return undefined
    const url = new URL(this.#url())
    url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:'
    try {
      const response = await this.#fetch(url.toString())
      return response.status >= 400 ? response.status : undefined
    } catch {
      return undefined
    }
  }

  /** Asks `getToken` for a new token; without one (or if it fails) the client closes for good. */
  async #renewToken(reason: StateChange['reason'] & object): Promise<boolean> {
    if (!this.#options.getToken) {
      this.#closeForGood(reason)
      return false
    }
    try {
      this.#token = await this.#options.getToken()
    } catch (error) {
      this.#closeForGood({ ...reason, message: `${reason.message}; getToken failed: ${String(error)}` })
      return false
    }
    return !this.#stopped
  }

  #retry(reason: NonNullable<StateChange['reason']>, delayMs?: number): void {
    if (this.#stopped) return
    const { initialDelayMs = 500, maxDelayMs = 30_000, maxAttempts = Infinity } = this.#options.reconnect ?? {}
    this.#attempt += 1
    if (this.#attempt > maxAttempts) return this.#closeForGood({ ...reason, message: `${reason.message}; gave up after ${maxAttempts} attempts` })
    const cap = Math.min(maxDelayMs, initialDelayMs * 2 ** (this.#attempt - 1))
    const delay = delayMs ?? Math.round(cap / 2 + (Math.random() * cap) / 2)
    this.#setState('reconnecting', reason, { attempt: this.#attempt, delayMs: delay })
    this.#retryTimer = setTimeout(() => {
      if (!this.#stopped) this.#open()
    }, delay)
  }

  #closeForGood(reason: NonNullable<StateChange['reason']>): void {
    this.#stopped = true
    clearTimeout(this.#retryTimer)
    this.#setState('closed', reason)
  }

  /** The connection is gone: the server ended its typing; pending requests fail. */
  #dropConnection(error: Error): void {
    for (const typing of this.#typing.values()) clearTimeout(typing.idle)
    this.#typing.clear()
    for (const ping of this.#pings.splice(0)) {
      clearTimeout(ping.timer)
      ping.reject(error)
    }
    for (const refresh of this.#refreshes.splice(0)) refresh.reject(error)
    const socket = this.#socket
    this.#socket = null
    if (!socket) return
    socket.onopen = socket.onmessage = socket.onclose = null
    // Still listening: `ws` throws an error event nobody listens to (e.g. closing while connecting).
    socket.onerror = () => {}
  }

  #send(message: ClientMessage): boolean {
    const socket = this.#socket
    if (this.#state !== 'open' || !socket || socket.readyState !== OPEN) return false
    socket.send(JSON.stringify(message))
    return true
  }

  #setState(state: ClientState, reason?: StateChange['reason'], retry?: { attempt: number; delayMs: number }): void {
    const previous = this.#state
    if (state === previous && state !== 'reconnecting') return
    this.#state = state
    this.#emit(this.#stateListeners, { state, previous, ...(reason ? { reason } : {}), ...retry })
  }
}
