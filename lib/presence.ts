import { visiblePresence, type ChosenPresence, type Presence } from '../schemas/common.js'
import type { PresenceUpdateEvent } from '../schemas/server-messages.js'
import type { Dispatcher } from './dispatcher.js'
import { withTimeout } from './timeout.js'
import type { PresenceWriter } from './presence-writer.js'
import type { PresenceStore } from './stores/presence-store.js'

interface UserPresence {
  /** Open connections of the user. */
  connections: number
  /** Unset until the first connection has read the chosen state. */
  presence: ChosenPresence | undefined
  /** Settles once `presence` is known; later connections wait on it. */
  settled: Promise<void>
}

export interface PresenceLog {
  warn(obj: object, msg: string): void
}

/** A connection waits at most this long for the chosen state before the user comes online. */
const CHOSEN_READ_TIMEOUT_MS = 2000

function event(userId: string, presence: Presence): PresenceUpdateEvent {
  return { type: 'presence:update', data: { user_id: userId, presence } }
}

/**
 * Users' presence (contract section 5): restored on the first connection,
 * changed by the user, offline when the last connection closes. Announces
 * each change to the right users and hands the write to the PresenceWriter.
 */
export class PresenceService {
  readonly #users = new Map<string, UserPresence>()

  constructor(
    private readonly store: PresenceStore,
    private readonly writer: PresenceWriter,
    private readonly dispatcher: Dispatcher,
    private readonly log: PresenceLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Counts a new connection; resolves once the user's presence is settled. */
  connectionOpened(userId: string): Promise<void> {
    const existing = this.#users.get(userId)
    if (existing) {
      existing.connections++
      return existing.settled
    }
    const user: UserPresence = { connections: 1, presence: undefined, settled: Promise.resolve() }
    this.#users.set(userId, user)
    user.settled = this.#restore(userId, user)
    return user.settled
  }

  async #restore(userId: string, user: UserPresence): Promise<void> {
    let stored: ChosenPresence | undefined
    try {
      stored = await withTimeout(this.store.chosenPresence(userId), CHOSEN_READ_TIMEOUT_MS)
    } catch (error) {
      this.log.warn({ err: error, userId }, 'could not read the chosen presence; the user comes online')
    }
    // A choice still on its way to the store is newer than what the store holds.
    const chosen = this.writer.unwritten(userId)?.chosenPresence ?? stored
    // Every connection closed while the store was being read: the close already recorded offline.
    if (this.#users.get(userId) !== user) return
    const presence: ChosenPresence = chosen === 'dnd' || chosen === 'invisible' ? chosen : 'online'
    user.presence = presence
    this.writer.record(userId, { presence })
    if (presence !== 'invisible') this.dispatcher.toEveryone(event(userId, presence), { exclude: [userId] })
  }

  /** Uncounts a closed connection; the last one takes the user offline. */
  connectionClosed(userId: string): void {
    const user = this.#users.get(userId)
    if (!user) return
    if (--user.connections > 0) return
    this.#users.delete(userId)
    this.writer.record(userId, { presence: 'offline', lastActiveAt: this.now() })
    // Unsettled means nobody was told the user came online; invisible means nobody saw them.
    if (user.presence !== undefined && user.presence !== 'invisible') {
      this.dispatcher.toEveryone(event(userId, 'offline'), { exclude: [userId] })
    }
  }

  /**
   * Shutdown: every user here goes offline in the store at once. Nobody is
   * told, since every connection here is closing anyway.
   */
  allOffline(): void {
    const at = this.now()
    for (const userId of this.#users.keys()) this.writer.record(userId, { presence: 'offline', lastActiveAt: at })
    this.#users.clear()
  }

  /** The user chose a state: their own connections hear it always, others when what they see changes. */
  choose(userId: string, presence: ChosenPresence): void {
    const user = this.#users.get(userId)
    if (!user) return
    const before = user.presence === undefined ? 'offline' : visiblePresence(user.presence)
    user.presence = presence
    this.writer.record(userId, { presence, chosenPresence: presence })
    this.dispatcher.sendToUser(userId, event(userId, presence))
    const after = visiblePresence(presence)
    if (after !== before) this.dispatcher.toEveryone(event(userId, after), { exclude: [userId] })
  }

  /** The presence `asker` may see of `userId`: real for themself, visible for others. */
  presenceFor(asker: string, userId: string): Presence {
    const presence = this.#users.get(userId)?.presence
    if (presence === undefined) return 'offline'
    return asker === userId ? presence : visiblePresence(presence)
  }

  /** Users with a connection here, settled or not. */
  connectedUserIds(): string[] {
    return [...this.#users.keys()]
  }

  /** Users with at least one open connection. */
  get onlineCount(): number {
    return this.#users.size
  }
}
