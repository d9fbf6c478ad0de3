import type { Redis } from 'ioredis'
import type { RedisKeys } from './keys.js'
import { TYPING_END_OWNED, TYPING_EXPIRE, TYPING_START } from './scripts.js'
import type { ExpiryCheck, TypingState } from '../typing/typing-state.js'
import { MemoryTypingState } from '../typing/typing-state-memory.js'

/**
 * Typing shared through Redis, so a user's typing in a channel is one state
 * whichever instance their connections are on. Each key also expires by
 * itself (a few timeouts later) in case its owner dies. While Redis is
 * unreachable, typing goes on in this instance's memory.
 */
export class RedisTypingState implements TypingState {
  readonly #fallback = new MemoryTypingState()

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly timeoutMs: number,
  ) {}

  async start(channelId: string, userId: string, owner: string, expiresAt: number) {
    if (this.#fallback.has(channelId, userId)) return this.#fallback.startNow(channelId, userId, owner, expiresAt)
    try {
      const started = await this.redis.eval(
        TYPING_START,
        1,
        this.keys.typing(channelId, userId),
        owner,
        String(expiresAt),
        String(this.timeoutMs * 3),
      )
      return started === 1 ? ('started' as const) : ('renewed' as const)
    } catch {
      return this.#fallback.startNow(channelId, userId, owner, expiresAt)
    }
  }

  async stop(channelId: string, userId: string) {
    if (this.#fallback.stopNow(channelId, userId)) return true
    try {
      return (await this.redis.del(this.keys.typing(channelId, userId))) === 1
    } catch {
      return undefined
    }
  }

  async expire(channelId: string, userId: string, owner: string, now: number): Promise<ExpiryCheck> {
    if (this.#fallback.has(channelId, userId)) return this.#fallback.expireNow(channelId, userId, owner, now)
    try {
      const result = Number(await this.redis.eval(TYPING_EXPIRE, 1, this.keys.typing(channelId, userId), owner, String(now)))
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
      return Number(await this.redis.eval(TYPING_END_OWNED, 1, this.keys.typing(channelId, userId), owner)) === 1
    } catch {
      return true
    }
  }
}
