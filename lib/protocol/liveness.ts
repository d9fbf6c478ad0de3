import type { MembershipCache } from '../membership/membership-cache.js'
import type { ConnectionRegistry } from '../connections/registry.js'
import type { TypingService } from '../typing/typing.js'

/**
 * One sweep for every connection instead of timers each: ends typing not
 * renewed in time, closes connections whose token expired, forgets expired
 * membership, and pings, terminating a peer that did not answer the last ping.
 */
export class LivenessSweep {
  #timer: NodeJS.Timeout | null = null
  #lastHeartbeat: number

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly typing: TypingService,
    private readonly membership: MembershipCache,
    private readonly heartbeatMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#lastHeartbeat = now()
  }

  start(periodMs: number): void {
    this.#timer = setInterval(() => this.sweep(), periodMs)
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
  }

  sweep(): void {
    const now = this.now()
    this.typing.expire()
    this.membership.prune()
    const heartbeat = now - this.#lastHeartbeat >= this.heartbeatMs
    if (heartbeat) this.#lastHeartbeat = now
    for (const connections of this.registry.connectionSets()) {
      for (const connection of connections) {
        if (connection.expiresAt <= now) {
          connection.close('TOKEN_EXPIRED')
        } else if (heartbeat) {
          connection.heartbeat()
        }
      }
    }
  }
}
