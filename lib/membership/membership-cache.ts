import type { MembershipStore } from './membership-store.js'

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
 * flight per channel however many typists ask at once.
 */
export class MembershipCache {
  readonly #entries = new Map<string, Entry>()

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
    const fetching = entry?.pending ?? this.#fetch(channelId, entry)
    if (!allowStale || !entry?.members) return fetching
    const stale = entry.members
    return fetching.catch(() => stale)
  }

  #fetch(channelId: string, previous: Entry | undefined): Promise<ChannelMembers> {
    const entry: Entry = previous ?? { fetchedAt: 0 }
    this.#entries.set(channelId, entry)
    const pending = this.store.channelMembers(channelId).then(
      (list) => {
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
