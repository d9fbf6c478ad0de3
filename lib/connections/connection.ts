import type { WebSocket } from 'ws'
import { CloseCode } from './close-codes.js'
import type { CloseReason } from '../support/metrics.js'
import { OutFrame, rawSender, writeFrame, type RawSender } from './wire.js'

let nextConnectionId = 1

/** The per-connection limits of contract section 6. */
export interface ConnectionLimits {
  maxBufferedBytes: number
  rateLimitPerSec: number
  rateLimitBurst: number
}

/** After this many rate-limited messages in a row the connection is closed (1008). */
export const MAX_DROPS_IN_A_ROW = 50

/** How long a slow consumer closed with 1013 may take to read up before its socket is cut. */
const SLOW_CONSUMER_GRACE_MS = 10_000

/**
 * One open WebSocket of one user. The registry holds these; delivery writes
 * already-serialized payloads to them.
 */
export class Connection {
  readonly id = nextConnectionId++
  /** When the token that admitted (or last refreshed) this connection expires, in epoch ms. */
  expiresAt: number
  /** Channels this connection started typing in, so that its close can stop them (made on first use: most connections never type). */
  typingChannels: Set<string> | null = null
  /** Whether a protocol Pong answered the last heartbeat Ping. */
  alive = true
  /** Frames that arrived while an earlier one was still being handled (kept in order). */
  backlog: Array<{ data: Buffer; isBinary: boolean }> | null = null
  /** Why the server closed it; a close the server did not start is the client's. */
  closeReason: CloseReason = 'client'
  /** Its close has been accounted for: registry, typing, presence, metrics. */
  released = false
  /** Rate-limited messages since the last one let through. */
  dropsInARow = 0
  /**
   * Registered from the upgrade on (so it counts against the per-user limit),
   * but deliveries wait for `open`: `connected` must be the first message.
   */
  #state: 'opening' | 'open' | 'closed' = 'opening'
  #tokens: number
  #refilledAt: number
  /** ws's Sender when frames built once may be written to it directly (a field, not an object per connection). */
  readonly #sender: RawSender | null

  constructor(
    readonly userId: string,
    readonly socket: WebSocket,
    expiresAt: number,
    private readonly limits: ConnectionLimits,
  ) {
    this.expiresAt = expiresAt
    this.#tokens = limits.rateLimitBurst
    this.#refilledAt = Date.now()
    this.#sender = rawSender(socket)
  }

  get closed(): boolean {
    return this.#state === 'closed'
  }

  /** The presence is settled and `connected` goes out first: deliveries start. */
  markOpen(connected: string): void {
    if (this.#state !== 'opening') return
    this.#state = 'open'
    this.sendRaw(connected)
  }

  markClosed(): void {
    this.#state = 'closed'
  }

  /** Writes one payload to this connection alone (pong, error, connected): as sendFrame. */
  sendRaw(payload: string): boolean {
    return this.sendFrame(new OutFrame(payload))
  }

  /**
   * Writes an event framed once for all its recipients (the same bytes to
   * each); nothing before `connected` or after close. A peer whose unsent
   * output passes MAX_BUFFERED_BYTES is closed with 1013 rather than buffered
   * without end.
   */
  sendFrame(frame: OutFrame): boolean {
    if (this.#state !== 'open') return false
    writeFrame(this.socket, this.#sender, frame)
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) this.#closeSlowConsumer()
    return true
  }

  send(message: { type: string; data: object }): boolean {
    return this.sendRaw(JSON.stringify(message))
  }

  /** Token bucket: whether one more message fits the rate (RATE_LIMIT_PER_SEC, RATE_LIMIT_BURST). */
  takeToken(now: number): boolean {
    const { rateLimitPerSec, rateLimitBurst } = this.limits
    this.#tokens = Math.min(rateLimitBurst, this.#tokens + ((now - this.#refilledAt) * rateLimitPerSec) / 1000)
    this.#refilledAt = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  close(code: number, reason: string, why: CloseReason): void {
    if (this.#state === 'closed') return
    this.closeReason = why
    this.#state = 'closed'
    this.socket.close(code, reason)
  }

  #closeSlowConsumer(): void {
    this.close(CloseCode.TRY_AGAIN_LATER, 'too much unread output', 'slow_consumer')
    // The close frame waits behind what the peer has not read; do not wait for it forever.
    setTimeout(() => this.socket.terminate(), SLOW_CONSUMER_GRACE_MS).unref()
  }
}
