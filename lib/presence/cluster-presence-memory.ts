import type { ChosenPresence } from '../../schemas/common.js'
import type { ClusterPresence } from './cluster-presence.js'

/** One instance: it alone holds connections, so its first is everyone's first. */
export class MemoryClusterPresence implements ClusterPresence {
  readonly #presence = new Map<string, ChosenPresence | undefined>()

  async join(userId: string) {
    const first = !this.#presence.has(userId)
    if (first) this.#presence.set(userId, undefined)
    return { first, presence: this.#presence.get(userId) }
  }

  async setPresence(userId: string, presence: ChosenPresence) {
    const before = this.#presence.get(userId)
    this.#presence.set(userId, presence)
    return before
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
}
