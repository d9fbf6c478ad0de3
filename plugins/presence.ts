import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { PresenceService } from '../lib/presence/presence.js'
import { PresenceWriter } from '../lib/presence/presence-writer.js'
import { recoverOrphans } from '../lib/presence/orphans.js'
import { withTimeout } from '../lib/support/timeout.js'
import { timedWrites } from '../lib/presence/presence-store-timed.js'
import { internal } from './internals.js'
import { EveryoneAudience, SubscriberAudience } from '../lib/presence/audience.js'
import { PresenceSubscriptions } from '../lib/presence/subscriptions.js'

/** How long a start waits for orphaned presence to be recorded before it listens anyway. */
const ORPHAN_WAIT_ON_START_MS = 2000

/** How long a closing server waits for presence writes to land. */
const DRAIN_ON_CLOSE_MS = 3000

const presencePlugin: FastifyPluginAsync = async (instance) => {
  const fastify = internal(instance)
  const store = fastify.realtimeStores.presence
  const log = fastify.log.child({ component: 'presence' })
  const metrics = fastify.realtimeMetrics
  const timed = timedWrites(store, (seconds) => metrics.presenceWriteSeconds.observe(seconds))
  const writer = new PresenceWriter(timed, log, () => metrics.presenceWriteFailures++)
  fastify.decorate('presenceWriter', writer)
  const { presenceScope, maxPresenceSubscriptions } = fastify.realtimeConfig.realtime
  // Who hears a change besides the user: every connected user, or the connections that subscribed to them.
  const subscribers = presenceScope === 'subscribed' ? new SubscriberAudience(fastify.realtimeCluster.presenceRoute, metrics) : null
  const audience = subscribers ?? new EveryoneAudience(fastify.wsDispatcher)
  const presence = new PresenceService(store, writer, fastify.wsDispatcher, fastify.realtimeCluster.presence, log, audience)
  fastify.decorate('realtimePresence', presence)
  fastify.decorate('realtimePresenceSubscriptions', new PresenceSubscriptions(presence, subscribers, maxPresenceSubscriptions))
  // Connections are counted in one place, the registry; presence hears of a user's first and last one here.
  fastify.wsRegistry.watch((userId, here) => presence.userHere(userId, here))

  // Alone (a single instance, or the first of a cluster that went down whole), this instance owns presence.
  let orphans: ReturnType<typeof recoverOrphans> | undefined
  if (fastify.realtimeCluster.startedAlone) {
    fastify.addHook('onReady', async () => {
      orphans = recoverOrphans(store, presence, log)
      await withTimeout(orphans.done, ORPHAN_WAIT_ON_START_MS).catch(() => {})
    })
  }

  fastify.addHook('onClose', async () => {
    orphans?.stop()
    if (!(await writer.drain(DRAIN_ON_CLOSE_MS))) {
      log.warn({ backlog: writer.backlog }, 'closing with presence writes that did not reach the database')
    }
    writer.close()
  })
}

export default fp(presencePlugin, {
  name: 'realtime-presence',
  fastify: '5.x',
  dependencies: ['realtime-config', 'realtime-stores', 'realtime-registry', 'realtime-dispatcher', 'realtime-metrics', 'realtime-cluster'],
})
