/**
 * One logical connection to the service that survives drops: typed events
 * in, typed requests out, reconnection with jittered exponential backoff,
 * dead-link detection, reconnect when the network returns, and the token
 * renewed before it expires.
 */
import type { ChosenPresence, ClientMessage, ConnectedMessage, ErrorMessage, Presence, ServerMessage } from './protocol.js'
import type { FetchLike, Frame, OnlineEvents, RealtimeClientOptions, StateChange, WebSocketConstructor, WebSocketLike } from './options.js'
import { RealtimeError } from './options.js'
import { ClientEvents } from './client-events.js'
import { Heartbeat } from './heartbeat.js'
import { TokenRefresher } from './token-refresher.js'
import { TypingSender } from './typing-sender.js'
import { backoffDelay, stepAfterClose, stepAfterFailedUpgrade, type NextStep } from './retry-policy.js'
import { fetchPresence, probeStatus } from './http.js'
import { PendingPings, PendingRefreshes } from './requests.js'
import { openSocket } from './socket.js'
import { ResumePoint } from './resume-point.js'
import { PresenceSubscriptions } from './presence-subscriptions.js'

/** WebSocket readyState OPEN, the same in every implementation. */
const OPEN = 1
/** Sent when the client itself closes. */
const NORMAL_CLOSURE = 1000
/** Sent when the client drops a connection it gave up on (a dead link, `reconnect()`): 4000-4999 is the application's range. */
const CLIENT_RECONNECTS = 4000

type Reason = NonNullable<StateChange['reason']>

/** `Events` maps the application's own event types to their `data`. */
export class RealtimeClient<Events extends object = {}> extends ClientEvents<Events> {
  #token: string
  #socket: WebSocketLike | null = null
  #detach: (() => void) | undefined
  #userId: string | undefined
  /** Failed attempts since the last connection that reached `connected`. */
  #attempt = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #connectTimer: ReturnType<typeof setTimeout> | undefined
  /** A refused upgrade already asked for a new token; a second refusal is final. */
  #askedForToken = false
  #stopped = true
  #pendingPresence: ChosenPresence | undefined
  /** Failed upgrades in a row whose status could not be learned. */
  #silentFailures = 0
  readonly #pings = new PendingPings()
  readonly #refreshes = new PendingRefreshes()
  readonly #typing: TypingSender
  readonly #resumePoint: ResumePoint
  readonly #subscriptions: PresenceSubscriptions
  /** The full URL of the current (or last) attempt, token and `since` included. */
  #attemptUrl: string | undefined
  readonly #heartbeat: Heartbeat | undefined
  readonly #refresher: TokenRefresher | undefined
  readonly #onlineEvents: OnlineEvents | undefined
  readonly #onOnline = () => this.#networkBack()
  readonly #WebSocket: WebSocketConstructor
  readonly #fetch: FetchLike | undefined
  readonly #options: RealtimeClientOptions

  constructor(options: RealtimeClientOptions) {
    super()
    this.#options = options
    this.#token = options.token
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!WebSocketImpl) throw new TypeError('no WebSocket here: pass options.WebSocket (in Node, `WebSocket` from the ws package)')
    this.#WebSocket = WebSocketImpl
    this.#fetch = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis)
    this.#typing = new TypingSender((message) => this.#send(message), options.typing)
    this.#resumePoint = new ResumePoint(options.since)
    this.#subscriptions = new PresenceSubscriptions((message) => this.#send(message))
    if (options.heartbeat !== false) {
      this.#heartbeat = new Heartbeat(options.heartbeat ?? {}, () => this.#ping(this.#heartbeat!.timeoutMs, () => {}), (silentMs) => this.#linkDead(silentMs))
    }
    const { getToken, refreshAheadMs = 60_000 } = options
    if (getToken && refreshAheadMs !== false) {
      this.#refresher = new TokenRefresher(refreshAheadMs, getToken, (token) => this.#tokenFromRefresher(token))
    }
    const global = globalThis as Partial<OnlineEvents>
    const defaultEvents = typeof global.addEventListener === 'function' ? (global as OnlineEvents) : undefined
    this.#onlineEvents = options.onlineEvents === false ? undefined : (options.onlineEvents ?? defaultEvents)
  }

  /** The user the token names, once `connected` arrived. */
  get userId(): string | undefined {
    return this.#userId
  }

  /**
   * The offset of the last application event delivered (or the one
   * `connected` gave): what the next reconnect resumes from. Opaque; save it
   * to pass as the `since` option of a later client.
   */
  get offset(): string | undefined {
    return this.#resumePoint.offset
  }

  /** The users `subscribePresence` follows now. */
  get presenceSubscriptions(): ReadonlySet<string> {
    return this.#subscriptions.userIds
  }

  /** Opens the connection (and keeps it open until `close()`). */
  connect(): this {
    if (!this.#stopped) return this
    this.#stopped = false
    this.#attempt = 0
    this.#askedForToken = false
    this.#onlineEvents?.addEventListener('online', this.#onOnline)
    this.#refresher?.track(this.#token)
    this.setState('connecting')
    this.#open()
    return this
  }

  /** Closes for good: no reconnect. */
  close(): void {
    const socket = this.#socket
    this.#dropConnection(new RealtimeError('the client closed'))
    if (socket) socket.close(NORMAL_CLOSURE, 'client closed')
    this.#stop()
    if (this.state !== 'closed') this.setState('closed', { message: 'closed by the client' })
  }

  /**
   * Drops the connection (or the attempt, or the wait before the next one)
   * and connects again at once. Closed: the same as `connect()`.
   */
  reconnect(): this {
    if (this.#stopped) return this.connect()
    this.#abandon({ message: 'reconnect() was called' })
    this.#attempt = 0
    this.#retry({ message: 'reconnect() was called' }, 0)
    return this
  }

  /**
   * Call on every keystroke: the first call sends `typing:start`, later calls
   * renew it every `renewMs`, and `typing:stop` follows by itself `idleMs`
   * after the last call. Not open: nothing is sent.
   */
  startTyping(channelId: string): void {
    this.#typing.keystroke(channelId)
  }

  /** Stops typing in a channel now (e.g. the message was sent); nothing is sent unless a start was. */
  stopTyping(channelId: string): void {
    this.#typing.stop(channelId)
  }

  /** Sets the user's presence; while not open, it is sent once the connection opens. */
  setPresence(presence: ChosenPresence): void {
    if (!this.#send({ type: 'presence:update', data: { presence } })) this.#pendingPresence = presence
    else this.#pendingPresence = undefined
  }

  /**
   * Follows these users' presence (PRESENCE_SCOPE=subscribed, contract
   * section 5): `presence:subscribe` in messages of at most 200 ids, each
   * answered by `presence:state`, then `presence:update` on every change.
   * The client remembers the set and subscribes again on every reconnect
   * (subscriptions end with a connection). A refusal (more than the
   * server's MAX_PRESENCE_SUBSCRIPTIONS) comes as `error` with
   * `request_type: 'presence:subscribe'`.
   */
  subscribePresence(userIds: Iterable<string>): void {
    this.#subscriptions.add(userIds)
  }

  /** Stops following these users' presence (`presence:unsubscribe`); later reconnects leave them out. */
  unsubscribePresence(userIds: Iterable<string>): void {
    this.#subscriptions.remove(userIds)
  }

  /** An application-level ping: resolves with the round trip in ms when the pong arrives. */
  ping(): Promise<number> {
    return new Promise((resolve, reject) => {
      if (!this.#ping(this.#options.pingTimeoutMs ?? 10_000, resolve, reject)) reject(new RealtimeError('not connected'))
    })
  }

  /**
   * Gives the connection a newer token for the same user (`auth:refresh`),
   * extending its life; later reconnects use it. Rejects, keeping the old
   * token, when the server refuses it. Not open: it is kept for the next connect.
   */
  async refreshToken(token: string): Promise<void> {
    if (this.state !== 'open') return this.#useToken(token)
    if (!this.#send({ type: 'auth:refresh', data: { token } })) throw new RealtimeError('not connected')
    const { refused, done } = this.#refreshes.add()
    try {
      // The server answers a refusal before the pong of a ping sent after it.
      await Promise.race([this.ping(), refused])
    } finally {
      done()
    }
    this.#useToken(token)
  }

  /** `GET /presence` for these users: the visible presence of each (one's own is real). */
  async getPresence(userIds: readonly string[]): Promise<Record<string, Presence>> {
    if (!this.#fetch) throw new TypeError('no fetch here: pass options.fetch')
    return fetchPresence(this.#fetch, this.#attemptUrl ?? this.#baseUrl(), this.#token, userIds)
  }

  #baseUrl(): string {
    const { url } = this.#options
    return typeof url === 'function' ? url() : url
  }

  /** The upgrade URL of a new attempt: the token, and `since` to resume from (contract section 8). */
  #url(): string {
    const url = new URL(this.#baseUrl())
    url.searchParams.set('token', this.#token)
    const since = this.#resumePoint.sinceForAttempt()
    if (since !== undefined) url.searchParams.set('since', since)
    return (this.#attemptUrl = url.toString())
  }

  #open(): void {
    this.#retryTimer = undefined
    let opened: ReturnType<typeof openSocket>
    try {
      opened = openSocket(this.#WebSocket, this.#url(), {
        frame: (message) => {
          this.#heartbeat?.heard()
          this.#receive(message as Frame<Events>)
        },
        closed: ({ opened, code, reason, status }) => {
          this.#dropConnection(new RealtimeError('the connection closed'))
          if (this.#stopped) return
          if (opened) void this.#afterClose(code, reason || 'connection closed')
          else void this.#afterFailedUpgrade(code, status, reason)
        },
      })
    } catch (error) {
      this.#closeForGood({ message: `could not open a WebSocket: ${String(error)}` })
      return
    }
    this.#socket = opened.socket
    this.#detach = opened.detach
    const connectTimeoutMs = this.#options.connectTimeoutMs ?? 20_000
    // A server that accepts the TCP connection and then answers nothing (stopped, overloaded) must not hold the client forever.
    this.#connectTimer = setTimeout(() => {
      const reason = { message: `no \`connected\` within ${connectTimeoutMs} ms of opening` }
      this.#abandon(reason)
      this.#retry(reason)
    }, connectTimeoutMs)
  }

  #receive(message: Frame<Events>): void {
    const frame = message as ServerMessage
    switch (frame.type) {
      case 'connected':
        this.#connected(frame.data)
        break
      case 'pong':
        this.#pings.answered()
        break
      case 'error':
        this.#refused(frame)
        break
      default:
        this.#resumePoint.heard(message)
    }
    this.deliver(message)
  }

  /** A connection is open: what was waiting for it goes out, and the application learns what a reconnect recovered. */
  #connected(data: ConnectedMessage['data']): void {
    clearTimeout(this.#connectTimer)
    this.#userId = data.user_id
    this.#attempt = 0
    this.#askedForToken = false
    this.#silentFailures = 0
    this.#heartbeat?.start()
    this.setState('open')
    if (this.#pendingPresence) this.setPresence(this.#pendingPresence)
    this.#subscriptions.renew()
    const resume = this.#resumePoint.connected(data)
    if (resume) this.resumed(resume)
  }

  #refused(error: ErrorMessage): void {
    if (error.data.request_type === 'auth:refresh') this.#refreshes.refused(new RealtimeError(error.data.message, error.data.code))
  }

  /** Sends a ping whose pong resolves `resolve`; false when not open. Pongs answer pings in order. */
  #ping(timeoutMs: number, resolve: (ms: number) => void, reject: (error: Error) => void = () => {}): boolean {
    if (!this.#send({ type: 'ping', data: {} })) return false
    this.#pings.add(timeoutMs, resolve, reject)
    return true
  }

  /** The heartbeat heard nothing: the socket may say `open` forever, so stop waiting on it. */
  #linkDead(silentMs: number): void {
    if (this.#stopped || this.state !== 'open') return
    const reason = { message: `the link is dead: no frame for ${silentMs} ms, a ping unanswered` }
    this.#abandon(reason)
    this.#retry(reason)
  }

  /** The browser says the network is back: retry now instead of waiting, or check that the open link survived. */
  #networkBack(): void {
    if (this.#stopped) return
    if (this.state === 'open') return this.#heartbeat?.probe()
    if (this.#retryTimer === undefined) return
    clearTimeout(this.#retryTimer)
    this.#open()
  }

  /** Drops the current socket without waiting for its close (a dead link never completes one). */
  #abandon(reason: Reason): void {
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    const socket = this.#socket
    this.#dropConnection(new RealtimeError(reason.message))
    socket?.close(CLIENT_RECONNECTS, 'client reconnects')
  }

  async #afterClose(code: number, message: string): Promise<void> {
    await this.#next(stepAfterClose(code), { code, message })
  }

  async #afterFailedUpgrade(code: number, status: number | undefined, message: string | undefined): Promise<void> {
    if (status === undefined) status = await probeStatus(this.#fetch, this.#attemptUrl!)
    if (this.#stopped) return
    const reason = {
      code,
      ...(status === undefined ? {} : { status }),
      message: status === undefined ? (message ?? 'the connection could not be opened') : `the upgrade was refused with ${status}`,
    }
    this.#silentFailures = status === undefined ? this.#silentFailures + 1 : 0
    const step = stepAfterFailedUpgrade(status, this.#silentFailures, !this.#askedForToken && !!this.#options.getToken)
    if (step === 'new-token') this.#askedForToken = true
    await this.#next(step, reason)
  }

  async #next(step: NextStep, reason: Reason): Promise<void> {
    if (step === 'give-up') return this.#closeForGood(reason)
    if (step === 'retry') return this.#retry(reason)
    if (await this.#renewToken(reason)) this.#retry(reason, 0)
  }

  /** Asks `getToken` for a new token; without one (or if it fails) the client closes for good. */
  async #renewToken(reason: Reason): Promise<boolean> {
    if (!this.#options.getToken) {
      this.#closeForGood(reason)
      return false
    }
    try {
      this.#useToken(await this.#options.getToken())
    } catch (error) {
      this.#closeForGood({ ...reason, message: `${reason.message}; getToken failed: ${String(error)}` })
      return false
    }
    return !this.#stopped
  }

  /** The refresher got a token ahead of `exp`: open, it extends the connection; otherwise the next upgrade uses it. */
  async #tokenFromRefresher(token: string): Promise<void> {
    if (this.#stopped) return
    // A refusal keeps the old token; the connection then ends with 4001 and the client asks again.
    await this.refreshToken(token).catch(() => {})
  }

  #useToken(token: string): void {
    this.#token = token
    if (!this.#stopped) this.#refresher?.track(token)
  }

  #retry(reason: Reason, delayMs?: number): void {
    if (this.#stopped) return
    const { maxAttempts = Infinity } = this.#options.reconnect ?? {}
    this.#attempt += 1
    if (this.#attempt > maxAttempts) return this.#closeForGood({ ...reason, message: `${reason.message}; gave up after ${maxAttempts} attempts` })
    const delay = delayMs ?? backoffDelay(this.#attempt, this.#options.reconnect)
    this.setState('reconnecting', reason, { attempt: this.#attempt, delayMs: delay })
    this.#retryTimer = setTimeout(() => {
      if (!this.#stopped) this.#open()
    }, delay)
  }

  #closeForGood(reason: Reason): void {
    this.#stop()
    this.setState('closed', reason)
  }

  #stop(): void {
    this.#stopped = true
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#refresher?.stop()
    this.#onlineEvents?.removeEventListener('online', this.#onOnline)
  }

  /** The connection is gone: the server ended its typing; pending requests fail. */
  #dropConnection(error: Error): void {
    clearTimeout(this.#connectTimer)
    this.#heartbeat?.stop()
    this.#typing.forget()
    this.#pings.failAll(error)
    this.#refreshes.failAll(error)
    this.#detach?.()
    this.#detach = undefined
    this.#socket = null
  }

  #send(message: ClientMessage): boolean {
    const socket = this.#socket
    if (this.state !== 'open' || !socket || socket.readyState !== OPEN) return false
    socket.send(JSON.stringify(message))
    return true
  }
}
