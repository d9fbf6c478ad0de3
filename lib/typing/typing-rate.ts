/** How often (at most) the buckets of users who stopped typing are dropped. */
const PRUNE_EVERY_MS = 10_000

interface Bucket {
  tokens: number
  at: number
}

/**
 * Typing limited per user, every connection of theirs on this instance
 * together (contract section 4, TYPING_RATE_PER_SEC): a token bucket that
 * holds one second's worth. It is the whole limit on one instance. With many,
 * it is the cheap first refusal (no Redis asked); what it admits then takes a
 * token of the user's bucket in Redis too, in the same EVAL that changes the
 * typing state (lib/redis/typing-scripts.ts), so the rate holds for the user
 * across instances. While Redis is away this bucket alone applies.
 */
export class TypingRate {
  readonly #buckets = new Map<string, Bucket>()
  #prunedAt = 0

  constructor(
    private readonly perSec: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether one more typing:start or typing:stop of the user fits. */
  admit(userId: string): boolean {
    const now = this.now()
    if (now - this.#prunedAt >= PRUNE_EVERY_MS) this.#prune(now)
    const bucket = this.#buckets.get(userId)
    if (bucket === undefined) {
      this.#buckets.set(userId, { tokens: this.perSec - 1, at: now })
      return true
    }
    bucket.tokens = Math.min(this.perSec, bucket.tokens + ((now - bucket.at) * this.perSec) / 1000)
    bucket.at = now
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** Users whose bucket has filled up again need no entry. */
  #prune(now: number): void {
    this.#prunedAt = now
    for (const [userId, bucket] of this.#buckets) if (now - bucket.at >= 1000) this.#buckets.delete(userId)
  }

  get size(): number {
    return this.#buckets.size
  }
}
