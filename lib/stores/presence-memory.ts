import type { ChosenPresence } from '../../schemas/common.js'
import type { PresenceRecord, PresenceStore } from './presence-store.js'

/** The embedded default user records: presence fields only, in memory. */
export class MemoryPresenceStore implements PresenceStore {
  readonly #users = new Map<string, PresenceRecord>()

  async chosenPresence(userId: string): Promise<ChosenPresence | undefined> {
    return this.#users.get(userId)?.chosenPresence
  }

  async write(userId: string, record: PresenceRecord): Promise<void> {
    this.#users.set(userId, { ...this.#users.get(userId), ...record })
  }

  /** What was last written for a user (for the demo and tests). */
  record(userId: string): PresenceRecord | undefined {
    return this.#users.get(userId)
  }

  async ping(): Promise<void> {}
}
