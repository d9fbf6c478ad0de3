import type { Redis } from 'ioredis'
import type { RedisKeys } from './keys.js'
import { luaScript } from './lua.js'
import { TYPING_END_OWNED, TYPING_EXPIRE, TYPING_REAP, TYPING_START, TYPING_STOP } from './typing-scripts.js'
import type { ExpiryCheck, Typist, TypingState } from '../typing/typing-state.js'
import { MemoryTypingState } from '../typing/typing-state-memory.js'

const startTyping = luaScript<number>('roomlerTypingStart', TYPING_START)
const stopTyping = luaScript<number>('roomlerTypingStop', TYPING_STOP)
const expireTyping = luaScript<number>('roomlerTypingExpire', TYPING_EXPIRE)
const endOwnedTyping = luaScript<number>('roomlerTypingEndOwned', TYPING_END_OWNED)
const reapTyping = luaScript<string[]>('roomlerTypingReap', TYPING_REAP)

/**
 * Typing shared through Redis, so a user's typing in a channel is one state
 * whichever instance their connections are on. Each key also expires by
 * itself (a few timeouts later) in case its owner dies. While Redis is
 * unreachable, typing goes on in this instance's memory. Each instance's
 * typists are also listed under it, so that when it is counted out the
 * survivor that reaps it ends them and announces the stops.
 *
 * A start or stop also takes a token of the user's bucket in Redis, in the
 * same EVAL (no extra round trip), so TYPING_RATE_PER_SEC holds for the user
 * across instances; each instance's own TypingRate refuses first, and alone
 * while Redis is away.
 */
export class RedisTypingState implements TypingState {
  readonly #fallback = new MemoryTypingState()
  readonly #orphanListeners: Array<(typists: readonly Typist[]) => void> = []
  /** µs a token takes to come back, and how far ahead the bucket may be booked (see TAKE_TYPING_TOKEN). */
  readonly #tokenInterval: string
  readonly #tokenTolerance: string

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly timeoutMs: number,
    ratePerSec: number,
  ) {
    const interval = 1_000_000 / ratePerSec
    this.#tokenInterval = String(interval)
    // Booked up to a second ahead, less the token being taken: a second's worth in a burst, as TypingRate
    // holds (1 µs more, so that a float's rounding never refuses the last of them).
    this.#tokenTolerance = String(1_000_000 - interval + 1)
  }

  async start(channelId: string, userId: string, owner: string, expiresAt: number) {
    if (this.#fallback.has(channelId, userId)) return this.#fallback.startNow(channelId, userId, owner, expiresAt)
    try {
      const keys = [this.keys.typing(channelId, userId), this.#typistsOf(owner), this.keys.typingRate(userId)]
      const args = [owner, String(expiresAt), String(this.timeoutMs * 3), `${channelId}:${userId}`, this.#tokenInterval, this.#tokenTolerance]
      const started = await startTyping(this.redis, keys, args)
      if (started === -1) return 'limited' as const
      return started === 1 ? ('started' as const) : ('renewed' as const)
    } catch {
      return this.#fallback.startNow(channelId, userId, owner, expiresAt)
    }
  }

  async stop(channelId: string, userId: string) {
    if (this.#fallback.stopNow(channelId, userId)) return true
    try {
      const keys = [this.keys.typing(channelId, userId), this.keys.typingRate(userId)]
      const args = [this.keys.prefix, `${channelId}:${userId}`, this.#tokenInterval, this.#tokenTolerance]
      const stopped = Number(await stopTyping(this.redis, keys, args))
      return stopped === -1 ? ('limited' as const) : stopped === 1
    } catch {
      return undefined
    }
  }

  async expire(channelId: string, userId: string, owner: string, now: number): Promise<ExpiryCheck> {
    if (this.#fallback.has(channelId, userId)) return this.#fallback.expireNow(channelId, userId, owner, now)
    try {
      const keys = [this.keys.typing(channelId, userId), this.#typistsOf(owner)]
      const result = Number(await expireTyping(this.redis, keys, [owner, String(now), `${channelId}:${userId}`]))
      if (result === -2) return { outcome: 'gone' }
      if (result === -1) return { outcome: 'ended' }
      return { outcome: 'renewed', expiresAt: result }
    } catch {
      // Redis is away: end it as its owner would, rather than leave others watching a typist forever.
      return { outcome: 'ended' }
    }
  }

  async endOwned(channelId: string, userId: string, owner: string) {
    if (this.#fallback.endOwnedNow(channelId, userId, owner)) return true
    try {
      const keys = [this.keys.typing(channelId, userId), this.#typistsOf(owner)]
      return Number(await endOwnedTyping(this.redis, keys, [owner, `${channelId}:${userId}`])) === 1
    } catch {
      return true
    }
  }

  onOrphansEnded(listener: (typists: readonly Typist[]) => void): void {
    this.#orphanListeners.push(listener)
  }

  /** Ends the typists of an instance counted out (once, whoever calls first) and tells the listeners. */
  async reap(deadInstanceId: string): Promise<void> {
    const ended = await reapTyping(this.redis, [this.keys.typistsOf(deadInstanceId)], [this.keys.prefix, deadInstanceId])
    if (ended.length === 0) return
    const typists = ended.map((typist) => {
      const [channelId = '', userId = ''] = String(typist).split(':')
      return { channelId, userId }
    })
    for (const listener of this.#orphanListeners) listener(typists)
  }

  /** The owner is `instance:connection`. */
  #typistsOf(owner: string): string {
    return this.keys.typistsOf(owner.slice(0, owner.indexOf(':')))
  }
}
