import type { ChosenPresence } from '../../schemas/common.js'
import {
  CHOICE_KEPT_AFTER_WRITE_MS,
  CHOICE_KEPT_UNWRITTEN_MS,
  restored,
  type ClusterPresence,
  type Settled,
} from './cluster-presence.js'

interface Choice {
  presence: ChosenPresence
  at: number
  keptUntil: number
}

/** How often (at most) expired choices are swept out. */
const PRUNE_EVERY_MS = 60_000

/** One instance: it alone holds connections, so its first is everyone's first. */
export class MemoryClusterPresence implements ClusterPresence {
  /** Present users → their state (undefined until settled). */
  readonly #presence = new Map<string, ChosenPresence | undefined>()
  /** Each user's newest choice, until a while after the store holds it. */
  readonly #choices = new Map<string, Choice>()
  #prunedAt = 0

  constructor(private readonly now: () => number = Date.now) {}

  async join(userId: string) {
    const first = !this.#presence.has(userId)
    if (first) this.#presence.set(userId, undefined)
    return { first, presence: this.#presence.get(userId) }
  }

  async settle(userId: string, stored: ChosenPresence | undefined): Promise<Settled | undefined> {
    if (!this.#presence.has(userId)) return undefined
    const before = this.#presence.get(userId)
    if (before !== undefined) return { presence: before, before }
    const kept = this.#choice(userId)?.presence
    const presence = restored(kept ?? stored)
    this.#presence.set(userId, presence)
    return { presence, before, kept }
  }

  async choose(userId: string, presence: ChosenPresence, at: number) {
    const kept = this.#choice(userId)
    if (!kept || kept.at <= at) this.#choices.set(userId, { presence, at, keptUntil: at + CHOICE_KEPT_UNWRITTEN_MS })
    this.#prune()
    const before = this.#presence.get(userId)
    if (this.#presence.has(userId)) this.#presence.set(userId, presence)
    return before
  }

  landed(userId: string, chosen: ChosenPresence): void {
    const kept = this.#choices.get(userId)
    if (kept?.presence === chosen) kept.keptUntil = Math.min(kept.keptUntil, this.now() + CHOICE_KEPT_AFTER_WRITE_MS)
  }

  async leave(userId: string) {
    const presence = this.#presence.get(userId)
    this.#presence.delete(userId)
    return { last: true, presence }
  }

  async presences(userIds: readonly string[]) {
    return userIds.map((userId) => this.#presence.get(userId))
  }

  onChange(): void {}

  async close(): Promise<void> {}

  #choice(userId: string): Choice | undefined {
    const kept = this.#choices.get(userId)
    if (kept && kept.keptUntil < this.now()) {
      this.#choices.delete(userId)
      return undefined
    }
    return kept
  }

  #prune(): void {
    const now = this.now()
    if (now - this.#prunedAt < PRUNE_EVERY_MS) return
    this.#prunedAt = now
    for (const [userId, kept] of this.#choices) if (kept.keptUntil < now) this.#choices.delete(userId)
  }
}
