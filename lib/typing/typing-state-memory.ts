import type { ExpiryCheck, TypingState } from './typing-state.js'

/** One instance's typists, in memory. Also the fallback of the Redis state while Redis is unreachable. */
export class MemoryTypingState implements TypingState {
  readonly #typists = new Map<string, { owner: string; expiresAt: number }>()

  async start(channelId: string, userId: string, owner: string, expiresAt: number) {
    return this.startNow(channelId, userId, owner, expiresAt)
  }

  startNow(channelId: string, userId: string, owner: string, expiresAt: number): 'started' | 'renewed' {
    const key = `${channelId}:${userId}`
    const typist = this.#typists.get(key)
    if (typist) {
      typist.expiresAt = expiresAt
      return 'renewed'
    }
    this.#typists.set(key, { owner, expiresAt })
    return 'started'
  }

  async stop(channelId: string, userId: string) {
    return this.stopNow(channelId, userId)
  }

  stopNow(channelId: string, userId: string): boolean {
    return this.#typists.delete(`${channelId}:${userId}`)
  }

  async expire(channelId: string, userId: string, owner: string, now: number): Promise<ExpiryCheck> {
    return this.expireNow(channelId, userId, owner, now)
  }

  expireNow(channelId: string, userId: string, owner: string, now: number): ExpiryCheck {
    const key = `${channelId}:${userId}`
    const typist = this.#typists.get(key)
    if (!typist || typist.owner !== owner) return { outcome: 'gone' }
    if (typist.expiresAt > now) return { outcome: 'renewed', expiresAt: typist.expiresAt }
    this.#typists.delete(key)
    return { outcome: 'ended' }
  }

  async endOwned(channelId: string, userId: string, owner: string) {
    return this.endOwnedNow(channelId, userId, owner)
  }

  endOwnedNow(channelId: string, userId: string, owner: string): boolean {
    const key = `${channelId}:${userId}`
    if (this.#typists.get(key)?.owner !== owner) return false
    return this.#typists.delete(key)
  }

  has(channelId: string, userId: string): boolean {
    return this.#typists.has(`${channelId}:${userId}`)
  }

  get size(): number {
    return this.#typists.size
  }
}
