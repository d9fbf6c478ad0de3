/**
 * Who is in which state, kept from what the server says: `presence:update`
 * (contract section 5), `presence:state` (the answer to a presence
 * subscription) and `GET /presence` through `load`. Others' entries are
 * their visible presence (invisible shows as offline); the user's own entry
 * is their real one. Presence is state, not history: after a reconnect the
 * map asks `GET /presence` again for every user it holds, since changes
 * made during the drop were not sent to this client (except the users the
 * client subscribed to: its renewed subscription brings `presence:state`).
 */
import { MAX_PRESENCE_IDS, type Presence } from './protocol.js'
import type { RealtimeClient } from './realtime-client.js'
import { emit, type Listener } from './listeners.js'

export interface PresenceChange {
  userId: string
  presence: Presence
  /** Undefined the first time the map hears of the user. */
  previous: Presence | undefined
}

export class PresenceMap {
  readonly #presences = new Map<string, Presence>()
  /** Bumped on every pushed change, so an HTTP answer never overwrites a newer push. */
  readonly #versions = new Map<string, number>()
  readonly #listeners = new Set<Listener<PresenceChange>>()
  readonly #offs: Array<() => void>
  #connections = 0

  constructor(private readonly client: RealtimeClient<any>) {
    this.#offs = [
      client.on('presence:update', ({ data }) => this.#push(data.user_id, data.presence)),
      client.on('presence:state', ({ data }) => {
        for (const [userId, presence] of Object.entries(data.presences)) this.#push(userId, presence)
      }),
      client.on('connected', () => {
        if (++this.#connections === 1) return
        const subscribed = client.presenceSubscriptions
        this.load([...this.#presences.keys()].filter((id) => !subscribed.has(id))).catch(() => {})
      }),
    ]
  }

  get(userId: string): Presence | undefined {
    return this.#presences.get(userId)
  }

  get size(): number {
    return this.#presences.size
  }

  /** A copy of every entry. */
  snapshot(): Record<string, Presence> {
    return Object.fromEntries(this.#presences)
  }

  /** Told each time an entry changes (not when the server repeats a state). */
  onChange(listener: (change: PresenceChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Fills the map for these users from `GET /presence` (in requests of at most 200 ids): the list a page opens with. */
  async load(userIds: readonly string[]): Promise<void> {
    for (let i = 0; i < userIds.length; i += MAX_PRESENCE_IDS) {
      const ids = userIds.slice(i, i + MAX_PRESENCE_IDS)
      const asked = new Map(ids.map((id) => [id, this.#versions.get(id) ?? 0]))
      const presences = await this.client.getPresence(ids)
      for (const [userId, presence] of Object.entries(presences)) {
        if ((this.#versions.get(userId) ?? 0) === asked.get(userId)) this.#set(userId, presence)
      }
    }
  }

  /** Stops listening to the client. */
  dispose(): void {
    for (const off of this.#offs) off()
  }

  #push(userId: string, presence: Presence): void {
    this.#versions.set(userId, (this.#versions.get(userId) ?? 0) + 1)
    this.#set(userId, presence)
  }

  #set(userId: string, presence: Presence): void {
    const previous = this.#presences.get(userId)
    if (previous === presence) return
    this.#presences.set(userId, presence)
    emit(this.#listeners, { userId, presence, previous })
  }
}
