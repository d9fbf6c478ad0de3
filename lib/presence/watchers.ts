import type { Connection } from '../connections/connection.js'
import type { OutFrame } from '../connections/wire.js'

/**
 * Told when this instance's first watcher of users subscribes (`true`) and
 * their last one goes (`false`): once per call that changes any, with all of
 * them (so that one presence:subscribe is one SUBSCRIBE).
 */
export type WatchedListener = (userIds: string[], watched: boolean) => void

const NONE: ReadonlySet<string> = new Set()

/**
 * Which of this instance's connections subscribed to which users' presence
 * (PRESENCE_SCOPE=subscribed), kept both ways: a user's watchers for the
 * delivery of a change, a connection's subscriptions for its limit and its
 * close. It knows connections, not instances: the listener hears when a user
 * starts and stops being watched here, so that changes from other instances
 * are routed here only while someone here wants them.
 */
export class PresenceWatchers {
  readonly #byUser = new Map<string, Set<Connection>>()
  readonly #byConnection = new Map<Connection, Set<string>>()

  constructor(private readonly onWatched: WatchedListener) {}

  /** The users a connection subscribed to (empty when none). */
  subscriptionsOf(connection: Connection): ReadonlySet<string> {
    return this.#byConnection.get(connection) ?? NONE
  }

  /** The connection watches these users too (ids normalized; the limit is the caller's). */
  add(connection: Connection, userIds: Iterable<string>): void {
    let mine = this.#byConnection.get(connection)
    if (!mine) this.#byConnection.set(connection, (mine = new Set()))
    const fresh: string[] = []
    for (const userId of userIds) {
      if (mine.has(userId)) continue
      mine.add(userId)
      let watchers = this.#byUser.get(userId)
      if (!watchers) {
        this.#byUser.set(userId, (watchers = new Set()))
        fresh.push(userId)
      }
      watchers.add(connection)
    }
    if (fresh.length > 0) this.onWatched(fresh, true)
  }

  /** The connection no longer watches these users. */
  remove(connection: Connection, userIds: Iterable<string>): void {
    const mine = this.#byConnection.get(connection)
    if (!mine) return
    const gone: string[] = []
    for (const userId of userIds) if (mine.delete(userId) && this.#drop(userId, connection)) gone.push(userId)
    if (mine.size === 0) this.#byConnection.delete(connection)
    if (gone.length > 0) this.onWatched(gone, false)
  }

  /** The connection closed: its subscriptions end with it. */
  forget(connection: Connection): void {
    const mine = this.#byConnection.get(connection)
    if (!mine) return
    this.#byConnection.delete(connection)
    const gone: string[] = []
    for (const userId of mine) if (this.#drop(userId, connection)) gone.push(userId)
    if (gone.length > 0) this.onWatched(gone, false)
  }

  /** Writes the frame (the same bytes) to every watcher of the user here but `except`; returns how many. */
  deliver(userId: string, frame: OutFrame, except?: Connection): number {
    const watchers = this.#byUser.get(userId)
    if (watchers === undefined) return 0
    let sent = 0
    for (const connection of watchers) if (connection !== except && connection.sendFrame(frame)) sent++
    return sent
  }

  isWatched(userId: string): boolean {
    return this.#byUser.has(userId)
  }

  /** Every user someone here watches. */
  watchedUsers(): IterableIterator<string> {
    return this.#byUser.keys()
  }

  /** Subscriptions held here, all connections together. */
  get size(): number {
    let size = 0
    for (const mine of this.#byConnection.values()) size += mine.size
    return size
  }

  /** True when it was the user's last watcher here. */
  #drop(userId: string, connection: Connection): boolean {
    const watchers = this.#byUser.get(userId)
    if (!watchers?.delete(connection) || watchers.size > 0) return false
    this.#byUser.delete(userId)
    return true
  }
}
