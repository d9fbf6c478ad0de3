import type { ChosenPresence, Presence } from '../../schemas/common.js'

/** What is written to a user's record; absent fields are left as they are. */
export interface PresenceRecord {
  presence?: Presence
  chosenPresence?: ChosenPresence
  lastActiveAt?: Date
  /**
   * When the change happened. A write older than the one already stored is
   * dropped, so that of two instances' writes for a user the later change wins
   * whichever lands last (stored as `presence_changed_at`).
   */
  changedAt?: Date
}

/** A user's stored presence: Roomler2's `users` collection. */
export interface PresenceStore {
  /** The state the user last chose, if any was recorded. */
  chosenPresence(userId: string): Promise<ChosenPresence | undefined>
  /** Sets the given fields on the user's record and nothing else; an unknown user is left alone. */
  write(userId: string, record: PresenceRecord): Promise<void>
  /**
   * Records as offline, at `at`, every user still recorded present but for
   * those in `except`: their connections died with a previous process.
   * Returns how many were changed.
   */
  markOrphansOffline(except: readonly string[], at: Date): Promise<number>
  ping(): Promise<void>
}
