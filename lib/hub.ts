import type { Audience } from './broker.js'
import type { ConnectionRegistry } from './registry.js'

/** Writes one serialized payload to every local connection of an audience. */
export function deliverTo(registry: ConnectionRegistry, audience: Audience, payload: string): number {
  const exclude = audience.exclude
  let sent = 0
  const userIds = 'users' in audience ? audience.users : registry.userIds()
  for (const userId of userIds) {
    if (exclude?.has(userId)) continue
    for (const connection of registry.senders(userId)) {
      connection.sendRaw(payload)
      sent++
    }
  }
  return sent
}
