import type { ChosenPresence } from '../../schemas/common.js'

/** A user who has no connection left on any instance, and the presence they had. */
export interface Departed {
  userId: string
  presence: ChosenPresence | undefined
}

/** What a first join's read of the stored choice came to. */
export interface Settled {
  /** The user's presence now. */
  presence: ChosenPresence
  /** Their presence before: set when a choice made meanwhile had settled it already (nothing to announce then). */
  before: ChosenPresence | undefined
  /**
   * The newest choice kept beside the store, when it decided: stored again
   * with this settlement, whose later time would otherwise make the store
   * drop the slower write of the choice itself.
   */
  kept?: ChosenPresence
}

/**
 * How long the newest choice of a user is kept beside the store once its
 * write landed: a read of the store that started before the write and
 * returns after it is corrected by it. Reads are abandoned well before this.
 */
export const CHOICE_KEPT_AFTER_WRITE_MS = 5 * 60_000
/** Until its write lands, a choice is kept this long at most (the writer retries for as long as the database is down). */
export const CHOICE_KEPT_UNWRITTEN_MS = 24 * 3600_000

/** The state a first connection restores: `dnd` and `invisible` survive a reconnect, anything else comes back `online`. */
export function restored(chosen: ChosenPresence | undefined): ChosenPresence {
  return chosen === 'dnd' || chosen === 'invisible' ? chosen : 'online'
}

/**
 * Presence across instances: which users hold a connection anywhere, the
 * state of each, and each user's newest choice (kept, with its time, beside
 * the database: a user who reconnects anywhere before the write of a choice
 * landed gets that choice, not the stale stored one). An instance calls
 * `join` on its first connection of a user and `leave` on its last. One
 * instance: in memory; many: Redis. Implementations do not throw: when the
 * shared store is unreachable they answer from what this instance knows, and
 * catch up later.
 */
export interface ClusterPresence {
  /**
   * `first`: no instance held a connection of the user before (the joiner
   * reads the stored choice and calls `settle`); else `presence` is their
   * current state (undefined while the first joiner has not settled it).
   */
  join(userId: string): Promise<{ first: boolean; presence: ChosenPresence | undefined }>
  /**
   * The first join's read of the stored choice returned: the newest choice
   * made anywhere wins over it. Undefined when no instance holds the user any
   * more (nothing to announce).
   */
  settle(userId: string, stored: ChosenPresence | undefined): Promise<Settled | undefined>
  /** The user chose a state at `at` (epoch ms); returns the state before (undefined: not known yet). */
  choose(userId: string, presence: ChosenPresence, at: number): Promise<ChosenPresence | undefined>
  /** The store now holds this choice: it is kept only CHOICE_KEPT_AFTER_WRITE_MS longer. */
  landed(userId: string, chosen: ChosenPresence): void
  /** `last`: no instance holds a connection of the user now. */
  leave(userId: string): Promise<{ last: boolean; presence: ChosenPresence | undefined }>
  /** The current state of each user (undefined: offline, or not known yet). */
  presences(userIds: readonly string[]): Promise<Array<ChosenPresence | undefined>>
  /**
   * Called with users who went offline without this instance's doing: the
   * connections of a dead instance, or ours that others counted out while the
   * shared store was unreachable and whose state we restore (`rejoined`).
   */
  onChange(listener: (change: { departed: Departed[]; rejoined: string[] }) => void): void
  close(): Promise<void>
}
