import fp from 'fastify-plugin'
import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type { Broker } from '../lib/delivery/broker.js'
import { LocalBroker } from '../lib/delivery/broker-memory.js'
import type { ClusterPresence } from '../lib/presence/cluster-presence.js'
import { MemoryClusterPresence } from '../lib/presence/cluster-presence-memory.js'
import type { TypingState } from '../lib/typing/typing-state.js'
import { MemoryTypingState } from '../lib/typing/typing-state-memory.js'
import { startRedisCluster } from '../lib/redis/cluster.js'
import type { History } from '../lib/history/history.js'
import { MemoryHistory } from '../lib/history/history-memory.js'
import { LocalPresenceRoute, type PresenceRoute } from '../lib/presence/presence-route.js'
import { internal } from './internals.js'

export interface RealtimeCluster {
  /** This instance's id, unique per process start. */
  instanceId: string
  broker: Broker
  /** The application events a resume (`?since=`) replays: in process, or the Redis stream. */
  history: History
  presence: ClusterPresence
  typing: TypingState
  /** Brings presence changes to the instances watching the user (PRESENCE_SCOPE=subscribed). */
  presenceRoute: PresenceRoute
  /**
   * No other instance was alive when this one started (always, on a single
   * instance): whoever the database shows present had their connections die
   * with the previous processes, and this instance records them offline.
   */
  startedAlone: boolean
  /** `none` on a single instance; else whether Redis answers. */
  redisState(): 'none' | 'ok' | 'down'
}

/**
 * One instance (no ROOMLER__REDIS__URL): everything in process. Many: Redis
 * carries events, presence and typing between them.
 */
const clusterPlugin: FastifyPluginAsync = async (instance) => {
  const fastify = internal(instance)
  const instanceId = randomBytes(8).toString('hex')
  const url = fastify.realtimeConfig.redis.url
  const { recoveryWindowMs, recoveryEvents, recoveryMaxBytes } = fastify.realtimeConfig.realtime
  const limits = { windowMs: recoveryWindowMs, events: recoveryEvents, maxBytes: recoveryMaxBytes }
  if (!url) {
    const history = new MemoryHistory(limits)
    fastify.decorate('realtimeCluster', {
      instanceId,
      broker: new LocalBroker(history),
      history,
      presence: new MemoryClusterPresence(),
      typing: new MemoryTypingState(),
      presenceRoute: new LocalPresenceRoute(),
      startedAlone: true,
      redisState: () => 'none' as const,
    })
    return
  }
  const cluster = await startRedisCluster({
    url,
    instanceId,
    instanceTtlMs: fastify.realtimeConfig.realtime.instanceTtlMs,
    typingTimeoutMs: fastify.realtimeConfig.realtime.typingTimeoutMs,
    history: limits,
    typingRatePerSec: fastify.realtimeConfig.realtime.typingRatePerSec,
    registry: fastify.wsRegistry,
    log: fastify.log.child({ component: 'cluster' }),
    presenceScope: fastify.realtimeConfig.realtime.presenceScope,
    presenceHeard: (on) => fastify.realtimeMetrics.presenceHeard.add(on),
    historyLost: (events) => {
      fastify.realtimeMetrics.historyLostEvents += events
    },
  })
  fastify.decorate('realtimeCluster', cluster)
  fastify.addHook('onClose', async () => cluster.close())
}

export default fp(clusterPlugin, {
  name: 'realtime-cluster',
  fastify: '5.x',
  dependencies: ['realtime-config', 'realtime-registry', 'realtime-metrics'],
})
