import type { ChosenPresence } from '../../schemas/common.js'
import type { PresenceRecord, PresenceStore } from './presence-store.js'

/** The embedded default user records: presence fields only, in memory. */
export class MemoryPresenceStore implements PresenceStore {
  readonly #users = new Map<string, PresenceRecord>()

  async chosenPresence(userId: string): Promise<ChosenPresence | undefined> {
    return this.#users.get(userId)?.chosenPresence
  }

  async write(userId: string, record: PresenceRecord): Promise<void> {
    const stored = this.#users.get(userId)
    if (record.changedAt && stored?.changedAt && record.changedAt < stored.changedAt) return
    this.#users.set(userId, { ...stored, ...record })
  }

  /** What was last written for a user (for the demo and tests). */
  record(userId: string): PresenceRecord | undefined {
    return this.#users.get(userId)
  }

  async markOrphansOffline(except: readonly string[], at: Date): Promise<number> {
    const keep = new Set(except)
    let changed = 0
    for (const [userId, record] of this.#users) {
      if (keep.has(userId) || record.presence === undefined || record.presence === 'offline') continue
      if (record.changedAt && record.changedAt > at) continue
      this.#users.set(userId, { ...record, presence: 'offline', lastActiveAt: at, changedAt: at })
      changed++
    }
    return changed
  }

  async ping(): Promise<void> {}
}
