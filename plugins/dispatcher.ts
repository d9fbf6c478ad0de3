import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { Dispatcher } from '../lib/delivery/dispatcher.js'
import { Hub } from '../lib/connections/hub.js'
import { MembershipCache } from '../lib/membership/membership-cache.js'
import { internal } from './internals.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Sends to users, to a channel's members or to everyone, wherever they are connected. */
    wsDispatcher: Dispatcher
  }
}

/** The dispatcher publishes through the broker; the broker hands every event back to the hub. */
const dispatcherPlugin: FastifyPluginAsync = async (instance) => {
  const fastify = internal(instance)
  const cache = new MembershipCache(fastify.realtimeStores.membership, fastify.realtimeConfig.realtime.membershipCacheMs)
  const broker = fastify.realtimeCluster.broker
  await broker.start(new Hub(fastify.wsRegistry, cache, fastify.realtimeMetrics))
  fastify.decorate('membershipCache', cache)
  fastify.decorate('wsDispatcher', new Dispatcher(broker, cache))
  fastify.addHook('onClose', async () => broker.close())
}

export default fp(dispatcherPlugin, {
  name: 'realtime-dispatcher',
  fastify: '5.x',
  dependencies: ['realtime-config', 'realtime-stores', 'realtime-registry', 'realtime-metrics', 'realtime-cluster'],
})
