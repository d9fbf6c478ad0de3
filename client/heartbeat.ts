/**
 * Dead-link detection. A half-open TCP connection (a laptop that slept, a
 * NAT that forgot the mapping, a server stopped dead) shows `open` forever:
 * nothing fails until something is sent. A browser cannot send protocol
 * Pings, and the server's own Pings (contract section 6) are invisible to
 * page scripts, so the client uses the protocol's application `ping`: after
 * `idleMs` without any frame it pings, and when no frame at all follows
 * within `timeoutMs` it declares the link dead. Any frame counts as life,
 * so a busy connection never pings.
 */
import { HEARTBEAT_MS } from './protocol.js'
import type { HeartbeatOptions } from './options.js'

export const HEARTBEAT_TIMEOUT_MS = 10_000

export class Heartbeat {
  readonly idleMs: number
  readonly timeoutMs: number
  #lastHeard = 0
  /** When the unanswered ping went out; 0 when none is out. */
  #pingedAt = 0
  #timer: ReturnType<typeof setTimeout> | undefined

  /**
   * `ping` sends an application ping (false when it could not); `dead` is
   * told how long the link has been silent.
   */
  constructor(
    options: HeartbeatOptions,
    private readonly ping: () => boolean,
    private readonly dead: (silentMs: number) => void,
  ) {
    this.idleMs = options.idleMs ?? HEARTBEAT_MS
    this.timeoutMs = options.timeoutMs ?? HEARTBEAT_TIMEOUT_MS
  }

  /** A connection opened: the watch starts. */
  start(): void {
    this.#lastHeard = Date.now()
    this.#pingedAt = 0
    this.#arm(this.idleMs)
  }

  /** A frame arrived. Cheap on purpose (a timestamp): it runs for every frame. */
  heard(): void {
    this.#lastHeard = Date.now()
  }

  /** Checks the link now (the network just came back): ping, and expect an answer within `timeoutMs`. */
  probe(): void {
    if (this.#timer === undefined || this.#pingedAt !== 0) return
    this.#sendPing()
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#pingedAt = 0
  }

  #arm(delayMs: number): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.#check(), Math.max(0, delayMs))
  }

  #sendPing(): void {
    if (!this.ping()) return this.#arm(this.idleMs)
    this.#pingedAt = Date.now()
    this.#arm(this.timeoutMs)
  }

  #check(): void {
    const now = Date.now()
    if (this.#pingedAt !== 0) {
      if (this.#lastHeard >= this.#pingedAt) {
        this.#pingedAt = 0
        return this.#arm(this.idleMs - (now - this.#lastHeard))
      }
      this.stop()
      return this.dead(now - this.#lastHeard)
    }
    const quiet = now - this.#lastHeard
    if (quiet < this.idleMs) return this.#arm(this.idleMs - quiet)
    this.#sendPing()
  }
}
