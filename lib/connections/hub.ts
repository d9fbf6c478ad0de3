import type { Audience, BrokerHandlers, Outbound } from '../delivery/broker.js'
import type { MembershipCache } from '../membership/membership-cache.js'
import type { Metrics } from '../support/metrics.js'
import type { Connection } from './connection.js'
import type { ConnectionRegistry } from './registry.js'
import { OutFrame } from './wire.js'

/**
 * The local end of the broker: what the broker hands back to this instance
 * (every event, whichever instance published it) is written here to this
 * instance's sockets, and a dropped channel is dropped from this instance's
 * membership cache. One delivery path for one instance or fifty.
 */
export class Hub implements BrokerHandlers {
  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly membership: MembershipCache,
    private readonly metrics: Metrics,
  ) {}

  deliver(audience: Audience, event: Outbound): void {
    // From the publish when it happened here; from the arrival when another instance published it.
    const since = event.publishedAt ?? performance.now()
    this.metrics.delivered(event.type, deliverTo(this.registry, audience, event), since)
  }

  dropChannel(channelId: string): void {
    this.membership.drop(channelId)
  }
}

/**
 * Writes one serialized event to every local connection of an audience;
 * returns how many. The event is framed once (on the first recipient) and
 * the same bytes go to every socket.
 */
export function deliverTo(registry: ConnectionRegistry, audience: Audience, event: Outbound): number {
  const exclude = audience.exclude
  const frame = new OutFrame(event.payload, event.offset)
  let sent = 0
  if ('users' in audience) {
    const users = audience.users
    for (let i = 0; i < users.length; i++) {
      const userId = users[i]!
      if (exclude !== undefined && exclude.has(userId)) continue
      const senders = registry.sendersOrNull(userId)
      if (senders !== null) sent += sendAll(senders, frame)
    }
    return sent
  }
  for (const [userId, senders] of registry.byUser()) {
    if (exclude !== undefined && exclude.has(userId)) continue
    sent += sendAll(senders, frame)
  }
  return sent
}

function sendAll(senders: ReadonlySet<Connection>, frame: OutFrame): number {
  let sent = 0
  for (const connection of senders) if (connection.sendFrame(frame)) sent++
  return sent
}
