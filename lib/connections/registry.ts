import type { Connection } from './connection.js'
import { normalizeId } from '../../schemas/common.js'

const NONE: ReadonlySet<Connection> = new Set()

/**
 * The local connection registry (Roomler2's WsStorage): every open connection
 * on this instance, by user. It knows connections, not instances or channels.
 */
/** Told when a user's first connection here opens (`true`) and their last one closes (`false`). */
export type UserHereListener = (userId: string, here: boolean) => void

export class ConnectionRegistry {
  readonly #byUser = new Map<string, Set<Connection>>()
  readonly #listeners: UserHereListener[] = []
  #connections = 0

  watch(listener: UserHereListener): void {
    this.#listeners.push(listener)
  }

  /** Registers a connection; returns how many the user now has here. */
  add(connection: Connection): number {
    let senders = this.#byUser.get(connection.userId)
    if (!senders) {
      senders = new Set()
      this.#byUser.set(connection.userId, senders)
      for (const listener of this.#listeners) listener(connection.userId, true)
    }
    if (!senders.has(connection)) {
      senders.add(connection)
      this.#connections++
    }
    return senders.size
  }

  /** Removes that very connection (by identity); returns how many the user still has here. */
  remove(connection: Connection): number {
    const senders = this.#byUser.get(connection.userId)
    if (!senders || !senders.delete(connection)) return senders?.size ?? 0
    this.#connections--
    if (senders.size === 0) {
      this.#byUser.delete(connection.userId)
      for (const listener of this.#listeners) listener(connection.userId, false)
    }
    return senders.size
  }

  /** The user's open connections here (empty when none); the id in either case. */
  senders(userId: string): ReadonlySet<Connection> {
    return this.#byUser.get(normalizeId(userId)) ?? NONE
  }

  /** The user's open connections here, or null when none: the fan-out's lookup, with an id already normalized. */
  sendersOrNull(userId: string): ReadonlySet<Connection> | null {
    return this.#byUser.get(userId) ?? null
  }

  /** Every user here with their connections (the fan-out to everyone walks this once). */
  byUser(): IterableIterator<[string, ReadonlySet<Connection>]> {
    return this.#byUser.entries()
  }

  has(userId: string): boolean {
    return this.#byUser.has(normalizeId(userId))
  }

  userIds(): IterableIterator<string> {
    return this.#byUser.keys()
  }

  get userCount(): number {
    return this.#byUser.size
  }

  get connectionCount(): number {
    return this.#connections
  }

  connections(): IterableIterator<Connection> {
    return flatten(this.#byUser.values())
  }

  /** Every user's connections here, a set each: a walk of every connection as two plain loops (a sweep walks them all every second, and a generator costs about 1 µs a connection). */
  connectionSets(): IterableIterator<ReadonlySet<Connection>> {
    return this.#byUser.values()
  }
}

function* flatten(sets: Iterable<Set<Connection>>): IterableIterator<Connection> {
  for (const set of sets) yield* set
}
