import type { Audience, Outbound } from './broker.js'
import type { ConnectionRegistry } from './registry.js'

/** Writes one serialized event to every local connection of an audience; returns how many. */
export function deliverTo(registry: ConnectionRegistry, audience: Audience, event: Outbound): number {
  const exclude = audience.exclude
  const payload = event.payload
  let sent = 0
  const userIds = 'users' in audience ? audience.users : registry.userIds()
  for (const userId of userIds) {
    if (exclude?.has(userId)) continue
    for (const connection of registry.senders(userId)) {
      if (connection.sendRaw(payload)) sent++
    }
  }
  return sent
}
