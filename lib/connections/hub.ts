import type { Audience, Outbound } from '../delivery/broker.js'
import type { Connection } from './connection.js'
import type { ConnectionRegistry } from './registry.js'
import { OutFrame } from './wire.js'

/**
 * Writes one serialized event to every local connection of an audience;
 * returns how many. The event is framed once (on the first recipient) and
 * the same bytes go to every socket.
 */
export function deliverTo(registry: ConnectionRegistry, audience: Audience, event: Outbound): number {
  const exclude = audience.exclude
  const frame = new OutFrame(event.payload)
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
