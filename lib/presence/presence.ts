import { visiblePresence, type ChosenPresence, type Presence } from '../../schemas/common.js'
import type { PresenceUpdateEvent } from '../../schemas/server-messages.js'
import type { ClusterPresence, Departed } from './cluster-presence.js'
import type { Dispatcher } from '../delivery/dispatcher.js'
import type { PresenceWriter } from './presence-writer.js'
import type { PresenceStore } from './presence-store.js'
import type { PresenceAudience } from './audience.js'
import { withTimeout } from '../support/timeout.js'
import { Backoff } from '../support/retry.js'

interface LocalUser {
  /** Settles once the user's presence is known; every connection of theirs here waits on it. */
  settled: Promise<void>
}

export interface PresenceLog {
  warn(obj: object, msg: string): void
}

/**
 * A connection waits at most this long for the chosen state before
 * `connected` goes out anyway; the user stays `offline` to others until the
 * state is read.
 */
const SETTLE_WAIT_MS = 2000
/** A read of the chosen state that takes longer is abandoned and tried again (well within CHOICE_KEPT_AFTER_WRITE_MS). */
const CHOSEN_READ_ATTEMPT_MS = 10_000

function event(userId: string, presence: Presence): PresenceUpdateEvent {
  return { type: 'presence:update', data: { user_id: userId, presence } }
}

/**
 * Users' presence (contract section 5): restored on the first connection
 * anywhere, changed by the user, offline when the last connection anywhere
 * closes. The registry counts this instance's connections and tells it of a
 * user's first and last connection here (`userHere`); it asks the
 * ClusterPresence whether that is a first or last everywhere, announces each
 * change (the real state to the user, the visible one to the audience that
 * PRESENCE_SCOPE chose) and hands the write to the PresenceWriter.
 */
export class PresenceService {
  readonly #users = new Map<string, LocalUser>()
  /** Per user, the cluster operations in order: a leave never overtakes the join before it. */
  readonly #queues = new Map<string, Promise<void>>()
  /** Shutting down: departures are recorded in one pass (`allOffline`), not one by one. */
  #closing = false

  constructor(
    private readonly store: PresenceStore,
    private readonly writer: PresenceWriter,
    private readonly dispatcher: Dispatcher,
    private readonly cluster: ClusterPresence,
    private readonly log: PresenceLog,
    private readonly audience: PresenceAudience,
    private readonly now: () => Date = () => new Date(),
  ) {
    // Once the store holds a choice, the copy kept beside it may go.
    writer.onLanded((userId, record) => {
      if (record.chosenPresence !== undefined) cluster.landed(userId, record.chosenPresence)
    })
    cluster.onChange(({ departed, rejoined }) => {
      this.#departedElsewhere(departed)
      this.#rejoined(rejoined)
    })
  }

  #enqueue(userId: string, operation: () => Promise<void>): Promise<void> {
    const previous = this.#queues.get(userId) ?? Promise.resolve()
    const next = previous.then(operation).catch((error: unknown) => {
      this.log.warn({ err: error, userId }, 'presence operation failed')
    })
    this.#queues.set(userId, next)
    void next.then(() => {
      if (this.#queues.get(userId) === next) this.#queues.delete(userId)
    })
    return next
  }

  /** The registry's word: the user's first connection here opened (`true`), or their last one here closed. */
  userHere(userId: string, here: boolean): void {
    if (this.#closing) return
    if (here) this.#arrived(userId)
    else this.#departed(userId)
  }

  /** Resolves once the user's presence is settled (at once when they have no connection here). */
  settled(userId: string): Promise<void> {
    return this.#users.get(userId)?.settled ?? Promise.resolve()
  }

  #arrived(userId: string): void {
    if (this.#users.has(userId)) return
    const user: LocalUser = { settled: Promise.resolve() }
    this.#users.set(userId, user)
    user.settled = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, SETTLE_WAIT_MS)
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      void this.#enqueue(userId, async () => {
        try {
          const joined = await this.cluster.join(userId)
          // Connected elsewhere already: that instance settles (or settled) the presence.
          if (joined.first) this.#readChosen(userId, user, done)
          else done()
        } catch (error) {
          done()
          throw error
        }
      })
    })
  }

  /**
   * Reads the state the user last chose, outside the user's queue (a slow
   * database must hold back neither their choices nor their departure), and
   * retried until it is read or the user has left here. Until then the user
   * is offline to everyone else and nothing is written for them.
   */
  #readChosen(userId: string, user: LocalUser, done: () => void): void {
    const backoff = new Backoff()
    let failures = 0
    const attempt = () => {
      withTimeout(this.store.chosenPresence(userId), CHOSEN_READ_ATTEMPT_MS).then(
        (stored) => void this.#enqueue(userId, () => this.#settle(userId, stored)).then(done),
        (error: unknown) => {
          if (failures++ === 0) this.log.warn({ err: error, userId }, 'could not read the chosen presence yet; the user is offline to others until it is read')
          if (this.#users.get(userId) !== user) return done()
          setTimeout(attempt, backoff.next()).unref()
        },
      )
    }
    attempt()
  }

  /** The chosen state is read: the newest choice wins, the user's connections hear it, others see the visible one. */
  async #settle(userId: string, read: ChosenPresence | undefined): Promise<void> {
    // A choice still on its way to the store is newer than what the store holds.
    const stored = this.writer.unwritten(userId)?.chosenPresence ?? read
    const settled = await this.cluster.settle(userId, stored)
    // Gone before it settled (nobody saw them), or settled by a choice meanwhile (announced then).
    if (settled === undefined || settled.before !== undefined) return
    const { presence, kept } = settled
    this.writer.record(userId, kept === undefined ? { presence, changedAt: this.now() } : { presence, chosenPresence: kept, changedAt: this.now() })
    this.dispatcher.sendToUser(userId, event(userId, presence))
    if (presence !== 'invisible') this.audience.toOthers(userId, presence)
  }

  /** The user's real presence, for a connection that just got `connected` (undefined: not known yet; it comes once read). */
  ownPresence(userId: string): Promise<ChosenPresence | undefined> {
    let own: ChosenPresence | undefined
    return this.#enqueue(userId, async () => {
      ;[own] = await this.cluster.presences([userId])
    }).then(() => own)
  }

  /** The last connection here closed: the user leaves the cluster. */
  #departed(userId: string): void {
    if (!this.#users.delete(userId)) return
    void this.#enqueue(userId, () => this.#leave(userId))
  }

  async #leave(userId: string): Promise<void> {
    const left = await this.cluster.leave(userId)
    if (left.last) this.#wentOffline({ userId, presence: left.presence })
  }

  /** The last connection anywhere is gone: stored offline, and announced unless nobody saw the user. */
  #wentOffline({ userId, presence }: Departed): void {
    const at = this.now()
    this.writer.record(userId, { presence: 'offline', lastActiveAt: at, changedAt: at })
    if (presence !== undefined && presence !== 'invisible') {
      this.audience.toOthers(userId, 'offline')
    }
  }

  #departedElsewhere(departed: Departed[]): void {
    for (const user of departed) {
      // Connected here again by now: that join announces the user afresh.
      if (!this.#users.has(user.userId)) this.#wentOffline(user)
    }
  }

  /** Our users the cluster had counted out while we could not reach it: announce them again. */
  #rejoined(userIds: string[]): void {
    for (const userId of userIds) {
      void this.#enqueue(userId, async () => {
        if (!this.#users.has(userId)) return
        const [presence] = await this.cluster.presences([userId])
        if (presence !== undefined && presence !== 'invisible') {
          this.audience.toOthers(userId, presence)
        }
      })
    }
  }

  /**
   * Shutdown: every user here leaves the cluster; those with no connection
   * elsewhere are stored offline and announced to the other instances (this
   * one's connections are closing anyway). Resolves when all are recorded.
   */
  async allOffline(): Promise<void> {
    this.#closing = true
    const userIds = [...this.#users.keys()]
    this.#users.clear()
    await Promise.all(userIds.map((userId) => this.#enqueue(userId, () => this.#leave(userId))))
  }

  /** The user chose a state: their own connections hear it always, others when what they see changes. */
  choose(userId: string, presence: ChosenPresence): Promise<void> {
    if (!this.#users.has(userId)) return Promise.resolve()
    const at = this.now()
    return this.#enqueue(userId, async () => {
      const before = await this.cluster.choose(userId, presence, at.getTime())
      this.writer.record(userId, { presence, chosenPresence: presence, changedAt: at })
      this.dispatcher.sendToUser(userId, event(userId, presence))
      // Before the chosen state was read, others saw the user offline.
      const after = visiblePresence(presence)
      if (after !== visiblePresence(before ?? 'offline')) {
        this.audience.toOthers(userId, after)
      }
    })
  }

  /** The presence `asker` may see of each user: real for themself, visible for others. */
  async presencesFor(asker: string, userIds: readonly string[]): Promise<Presence[]> {
    const states = await this.cluster.presences(userIds)
    return states.map((state, i) => {
      const presence = state ?? 'offline'
      return userIds[i] === asker ? presence : visiblePresence(presence)
    })
  }

  /** Users with a connection here, settled or not. */
  connectedUserIds(): string[] {
    return [...this.#users.keys()]
  }

  /** Users with at least one open connection here. */
  get onlineCount(): number {
    return this.#users.size
  }
}
