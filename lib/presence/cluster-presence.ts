import type { ChosenPresence } from '../../schemas/common.js'

/** A user who has no connection left on any instance, and the presence they had. */
export interface Departed {
  userId: string
  presence: ChosenPresence | undefined
}

/**
 * Presence across instances: which users hold a connection anywhere, and the
 * state each chose. An instance calls `join` on its first connection of a
 * user and `leave` on its last. One instance: in memory; many: Redis.
 * Implementations do not throw: when the shared store is unreachable they
 * answer from what this instance knows, and catch up later.
 */
export interface ClusterPresence {
  /** `first`: no instance held a connection of the user before; else `presence` is their current state. */
  join(userId: string): Promise<{ first: boolean; presence: ChosenPresence | undefined }>
  /** Sets the state of a joined user; returns the state before. */
  setPresence(userId: string, presence: ChosenPresence): Promise<ChosenPresence | undefined>
  /** `last`: no instance holds a connection of the user now. */
  leave(userId: string): Promise<{ last: boolean; presence: ChosenPresence | undefined }>
  /** The current state of each user (undefined: offline). */
  presences(userIds: readonly string[]): Promise<Array<ChosenPresence | undefined>>
  /**
   * Called with users who went offline without this instance's doing: the
   * connections of a dead instance, or ours that others counted out while the
   * shared store was unreachable and whose state we restore (`rejoined`).
   */
  onChange(listener: (change: { departed: Departed[]; rejoined: string[] }) => void): void
  close(): Promise<void>
}
