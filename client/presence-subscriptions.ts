/**
 * The users whose presence this client follows under PRESENCE_SCOPE=subscribed
 * (contract section 5, "Presence scope"). Subscriptions belong to a
 * connection and end with it, so the set is kept here and sent again on every
 * `connected`; each message names at most MAX_PRESENCE_IDS users. The server
 * answers each subscribe with `presence:state` (a PresenceMap takes it in).
 */
import { MAX_PRESENCE_IDS, type ClientMessage } from './protocol.js'

type Kind = 'presence:subscribe' | 'presence:unsubscribe'

export class PresenceSubscriptions {
  readonly #userIds = new Set<string>()

  /** `send` returns false when the connection is not open (nothing was sent). */
  constructor(private readonly send: (message: ClientMessage) => boolean) {}

  /** The users followed now. */
  get userIds(): ReadonlySet<string> {
    return this.#userIds
  }

  /** Follows these users; those not followed yet are subscribed now when open, else on the next `connected`. */
  add(userIds: Iterable<string>): void {
    const added = [...new Set(userIds)].filter((id) => !this.#userIds.has(id))
    for (const id of added) this.#userIds.add(id)
    this.#sendAll('presence:subscribe', added)
  }

  /** Stops following these users; the open connection is told. */
  remove(userIds: Iterable<string>): void {
    const removed = [...new Set(userIds)].filter((id) => this.#userIds.delete(id))
    this.#sendAll('presence:unsubscribe', removed)
  }

  /** A new connection holds no subscription: subscribe it to the whole set. */
  renew(): void {
    this.#sendAll('presence:subscribe', [...this.#userIds])
  }

  #sendAll(type: Kind, userIds: string[]): void {
    for (let i = 0; i < userIds.length; i += MAX_PRESENCE_IDS) {
      if (!this.send({ type, data: { user_ids: userIds.slice(i, i + MAX_PRESENCE_IDS) } })) return
    }
  }
}
