import { normalizeId, visiblePresence, type Presence } from '../../schemas/common.js'
import type { PresenceStateMessage } from '../../schemas/server-messages.js'
import type { Connection } from '../connections/connection.js'
import { ProtocolError } from '../protocol/errors.js'
import type { SubscriberAudience } from './audience.js'
import type { PresenceService } from './presence.js'

/**
 * presence:subscribe and presence:unsubscribe (contract section 5, "Presence
 * scope"). With PRESENCE_SCOPE=subscribed a subscribe makes the connection a
 * watcher of the users it names (at most MAX_PRESENCE_SUBSCRIPTIONS, its own
 * user not counted, refused whole past it) and is answered with their
 * presence now; an unsubscribe ends them; the connection's close ends all.
 * With `everyone` the connection hears every user anyway: a subscribe is
 * still answered with presence:state (so a client needs one code path for
 * both scopes), nothing is kept, and an unsubscribe changes nothing.
 */
export class PresenceSubscriptions {
  constructor(
    private readonly presence: PresenceService,
    /** Null in scope `everyone`. */
    private readonly audience: SubscriberAudience | null,
    private readonly max: number,
  ) {}

  /** Subscribes (scope `subscribed`) and answers with the presence of every user named, once changes of theirs reach this instance. */
  async subscribe(connection: Connection, userIds: readonly string[]): Promise<PresenceStateMessage> {
    const own = connection.userId
    const named = [...new Set(userIds.map(normalizeId))]
    const audience = this.audience
    if (audience !== null) {
      const others = named.filter((userId) => userId !== own)
      const held = audience.watchers.subscriptionsOf(connection)
      let after = held.size
      for (const userId of others) if (!held.has(userId)) after++
      if (after > this.max) {
        const reason = `MAX_PRESENCE_SUBSCRIPTIONS is ${this.max}: this subscribe would make ${after} (the connection holds ${held.size}); nothing was subscribed`
        throw new ProtocolError('invalid_message', `presence:subscribe: ${reason}`, 'presence:subscribe', { field: '/data/user_ids', reason })
      }
      // Watched before the state is read, so that no change falls between the read and the subscription.
      audience.watchers.add(connection, others)
      await audience.routed(others)
    }
    const asOf = audience?.clock ?? 0
    const states = await this.presence.presencesFor(own, named)
    const presences: Record<string, Presence> = {}
    named.forEach((userId, i) => {
      if (userId === own || audience === null) {
        presences[userId] = states[i]!
        return
      }
      // A change this connection may already have been told while the state was read is newer than the read.
      const presence = audience.newerSince(userId, asOf) ?? visiblePresence(states[i]!)
      presences[userId] = presence
      audience.told(userId, presence, connection)
    })
    return { type: 'presence:state', data: { presences } }
  }

  unsubscribe(connection: Connection, userIds: readonly string[]): void {
    this.audience?.watchers.remove(connection, userIds.map(normalizeId))
  }

  /** The connection closed: its subscriptions end with it. */
  forget(connection: Connection): void {
    this.audience?.watchers.forget(connection)
  }

  /** Subscriptions held on this instance (0 in scope `everyone`). */
  get size(): number {
    return this.audience?.watchers.size ?? 0
  }
}
