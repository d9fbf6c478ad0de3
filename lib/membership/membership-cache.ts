import type { MembershipStore } from './membership-store.js'
import { TimeoutError, withTimeout } from '../support/timeout.js'

/** A membership read that has not answered in this long counts as failed (the store is known down): the driver's own server selection timeout, so that a loaded but live database is not taken for a dead one. */
export const MEMBERSHIP_READ_TIMEOUT_MS = 3000

/** Membership cannot be read now: the store failed or timed out, and no read has succeeded since. */
export class MembershipUnavailable extends Error {
  constructor(readonly channelId: string) {
    super(`the members of channel ${channelId} cannot be read right now`)
    this.name = 'MembershipUnavailable'
  }
}

/** A channel's members, as a list to fan out over and a set to test the sender against. */
export interface ChannelMembers {
  readonly list: readonly string[]
  readonly set: ReadonlySet<string>
}

interface Entry {
  members?: ChannelMembers
  fetchedAt: number
  pending?: Promise<ChannelMembers>
}

/**
 * Channel membership cached for at most `ttlMs`, with one database read in
 * flight per channel however many typists ask at once. Once a read failed or
 * timed out, a channel that is not cached is refused at once
 * (MembershipUnavailable) until a read succeeds again: one read at a time
 * goes on trying meanwhile, started by the requests that were refused.
 */
export class MembershipCache {
  readonly #entries = new Map<string, Entry>()
  /** A read failed or timed out, and none has succeeded since. */
  #down = false
  /** When the store last answered a read (epoch ms). */
  #answeredAt = 0
  /** Reads in flight (while down, at most one is started). */
  #reads = 0

  constructor(
    private readonly store: MembershipStore,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The channel's members. `allowStale` returns the last known list when the
   * store fails (for stops the server sends itself, which must not be lost).
   */
  members(channelId: string, allowStale = false): Promise<ChannelMembers> {
    const entry = this.#entries.get(channelId)
    if (entry?.members && this.now() - entry.fetchedAt < this.ttlMs) return Promise.resolve(entry.members)
    if (this.#down) return this.#whileDown(channelId, entry, allowStale)
    const fetching = this.#answered(entry?.pending ?? this.#fetch(channelId, entry)).catch(() => {
      this.#down = true
      throw new MembershipUnavailable(channelId)
    })
    if (!allowStale || !entry?.members) return fetching
    const stale = entry.members
    return fetching.catch(() => stale)
  }

  /** Whether the store is known down (a read failed or timed out, none succeeded since). */
  get down(): boolean {
    return this.#down
  }

  /**
   * The read's answer, or a failure once the store has answered nothing at
   * all for MEMBERSHIP_READ_TIMEOUT_MS: a store that is slow but still
   * answering other reads (a loaded database) is waited for, a stopped one
   * is not.
   */
  async #answered(read: Promise<ChannelMembers>): Promise<ChannelMembers> {
    for (;;) {
      try {
        return await withTimeout(read, MEMBERSHIP_READ_TIMEOUT_MS)
      } catch (error) {
        if (!(error instanceof TimeoutError) || this.now() - this.#answeredAt >= MEMBERSHIP_READ_TIMEOUT_MS) throw error
      }
    }
  }

  #whileDown(channelId: string, entry: Entry | undefined, allowStale: boolean): Promise<ChannelMembers> {
    // One read at a time finds out when the store is back.
    if (this.#reads === 0) this.#fetch(channelId, entry).catch(() => {})
    if (allowStale && entry?.members) return Promise.resolve(entry.members)
    return Promise.reject(new MembershipUnavailable(channelId))
  }

  #fetch(channelId: string, previous: Entry | undefined): Promise<ChannelMembers> {
    const entry: Entry = previous ?? { fetchedAt: 0 }
    this.#entries.set(channelId, entry)
    this.#reads++
    const pending = this.store.channelMembers(channelId).then(
      (list) => {
        this.#reads--
        this.#down = false
        this.#answeredAt = this.now()
        const members = { list, set: new Set(list) }
        // A drop() while this read was in flight made it stale: return it, keep nothing.
        if (this.#entries.get(channelId) === entry && entry.pending === pending) {
          entry.members = members
          entry.fetchedAt = this.now()
          entry.pending = undefined
        }
        return members
      },
      (error: unknown) => {
        this.#reads--
        this.#down = true
        if (entry.pending === pending) entry.pending = undefined
        throw error
      },
    )
    entry.pending = pending
    return pending
  }

  /** Forgets a channel at once, so the next read goes to the store. */
  drop(channelId: string): void {
    this.#entries.delete(channelId)
  }

  /** Removes expired entries so that memory follows the channels in use, not every channel ever seen. */
  prune(): void {
    const oldest = this.now() - this.ttlMs
    for (const [channelId, entry] of this.#entries) {
      if (!entry.pending && entry.fetchedAt < oldest) this.#entries.delete(channelId)
    }
  }

  get size(): number {
    return this.#entries.size
  }
}
