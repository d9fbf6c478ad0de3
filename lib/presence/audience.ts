import type { VisiblePresence } from '../../schemas/common.js'
import { visiblePresence } from '../../schemas/common.js'
import type { PresenceUpdateEvent } from '../../schemas/server-messages.js'
import type { Dispatcher } from '../delivery/dispatcher.js'
import { OutFrame } from '../connections/wire.js'
import type { Connection } from '../connections/connection.js'
import type { Metrics } from '../support/metrics.js'
import type { PresenceRoute, ReadPresences } from './presence-route.js'
import { PresenceWatchers } from './watchers.js'

/**
 * Who hears of a change of a user's visible presence besides the user's own
 * connections (which always hear the real one): PRESENCE_SCOPE decides.
 */
export interface PresenceAudience {
  /** Tells those who may see it that `userId`'s visible presence is now `presence`. */
  toOthers(userId: string, presence: VisiblePresence): void
}

function event(userId: string, presence: VisiblePresence): PresenceUpdateEvent {
  return { type: 'presence:update', data: { user_id: userId, presence } }
}

/** `everyone` (Roomler2's rule): every connected user but the user. */
export class EveryoneAudience implements PresenceAudience {
  constructor(private readonly dispatcher: Dispatcher) {}

  toOthers(userId: string, presence: VisiblePresence): void {
    this.dispatcher.toEveryone(event(userId, presence), { exclude: [userId] })
  }
}

const RESOLVED = Promise.resolve()
/** Users read at once by a catch-up (one HMGET each). */
const CATCH_UP_BATCH = 500

/**
 * `subscribed`: the connections that subscribed to the user, wherever they
 * are. A change is serialized once and handed to the route, which brings it
 * to each instance that watches the user (and only those); each writes the
 * same bytes to its watchers. Nothing is allocated per recipient.
 */
export class SubscriberAudience implements PresenceAudience {
  readonly watchers: PresenceWatchers
  /** What the watchers here were last told of each watched user's visible presence (absent: offline). */
  readonly #told = new Map<string, VisiblePresence>()
  /**
   * When (`#clock`) a change of each watched user was last heard here, told or
   * not (one that matched what they knew, `offline` while nothing was told yet,
   * counts too): a read begun before it is older than what the watchers know.
   */
  readonly #heardAt = new Map<string, number>()
  /** Counts the changes heard here. */
  #clock = 0
  /** Users whose route is still being opened (a subscribe waits for it). */
  readonly #opening = new Map<string, Promise<void>>()

  constructor(
    private readonly route: PresenceRoute,
    private readonly metrics: Metrics,
  ) {
    this.watchers = new PresenceWatchers((userIds, watched) => (watched ? this.#open(userIds) : this.#close(userIds)))
    route.start({
      deliver: (userId, presence, payload, publishedAt) => this.#deliver(userId, presence, payload, publishedAt),
      catchUp: (read, only) => this.#catchUp(read, only),
    })
  }

  toOthers(userId: string, presence: VisiblePresence): void {
    this.route.publish(userId, presence, JSON.stringify(event(userId, presence)))
  }

  /** Resolves once changes of every one of these users made anywhere reach this instance. */
  routed(userIds: readonly string[]): Promise<void> {
    const waits: Promise<void>[] = []
    for (const userId of userIds) {
      const opening = this.#opening.get(userId)
      if (opening) waits.push(opening)
    }
    return waits.length === 0 ? RESOLVED : Promise.all(waits).then(() => {})
  }

  /** Now, for `newerSince`: take it before reading presence. */
  get clock(): number {
    return this.#clock
  }

  /** What the watchers here know of the user after a change heard since `clock` (newer than a read begun then), if any. */
  newerSince(userId: string, clock: number): VisiblePresence | undefined {
    return (this.#heardAt.get(userId) ?? -1) > clock ? (this.#told.get(userId) ?? 'offline') : undefined
  }

  /**
   * `subscriber` was just told `presence` by presence:state, read after every
   * change heard here (`newerSince` found none). If the other watchers here
   * were told otherwise, the read is newer than what they know: the change is
   * still on its way through the route. They are told it now, as a change
   * heard, so that the route's copy matches and is not sent a second time
   * (to the subscriber least of all: it was just told).
   */
  told(userId: string, presence: VisiblePresence, subscriber: Connection): void {
    if (!this.watchers.isWatched(userId)) return
    const known = this.#told.get(userId)
    if (known === presence) return
    // Heard now: a read begun before this one (another subscribe's, a catch-up's) is older than it.
    this.#heardAt.set(userId, ++this.#clock)
    this.#told.set(userId, presence)
    // The first subscriber here: nobody else to tell.
    if (known === undefined) return
    const sent = this.watchers.deliver(userId, new OutFrame(JSON.stringify(event(userId, presence))), subscriber)
    this.metrics.delivered('presence:update', sent, performance.now())
  }

  /** Users newly watched here, together: one route opening (one SUBSCRIBE) for all. */
  #open(userIds: string[]): void {
    const opening = this.route.watch(userIds).then(
      () => {},
      () => {},
    )
    for (const userId of userIds) this.#opening.set(userId, opening)
    void opening.then(() => {
      for (const userId of userIds) if (this.#opening.get(userId) === opening) this.#opening.delete(userId)
    })
  }

  #close(userIds: string[]): void {
    for (const userId of userIds) {
      this.#told.delete(userId)
      this.#heardAt.delete(userId)
      this.#opening.delete(userId)
    }
    this.route.unwatch(userIds)
  }

  #deliver(userId: string, presence: VisiblePresence, payload: string, publishedAt?: number): void {
    // Routed here while the last watcher was leaving: nobody to tell.
    if (!this.watchers.isWatched(userId)) return
    this.#heardAt.set(userId, ++this.#clock)
    // Watchers hear a change only (contract section 5): a catch-up and the change itself may both bring it.
    if ((this.#told.get(userId) ?? 'offline') === presence) return
    this.#told.set(userId, presence)
    const since = publishedAt ?? performance.now()
    this.metrics.delivered('presence:update', this.watchers.deliver(userId, new OutFrame(payload)), since)
  }

  /** After the route was cut off: each watched user whose presence differs from what the watchers here were told. */
  async #catchUp(read: ReadPresences, only?: readonly string[]): Promise<void> {
    const users = only ? only.filter((userId) => this.watchers.isWatched(userId)) : [...this.watchers.watchedUsers()]
    for (let i = 0; i < users.length; i += CATCH_UP_BATCH) {
      const batch = users.slice(i, i + CATCH_UP_BATCH)
      const asOf = this.#clock
      const states = await read(batch)
      batch.forEach((userId, j) => {
        // A change delivered while this was read is newer than the read.
        if (this.newerSince(userId, asOf) !== undefined) return
        const now = visiblePresence(states[j] ?? 'offline')
        if ((this.#told.get(userId) ?? 'offline') !== now) this.#deliver(userId, now, JSON.stringify(event(userId, now)))
      })
    }
  }
}
