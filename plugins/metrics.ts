import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { Metrics, Registry } from '../lib/support/metrics.js'
import type { RealtimePluginOptions } from './config.js'
import { internal } from './internals.js'

export interface RealtimeMetricsRegistry {
  /** Where the series are: the host's registry, or one of the plugin's own. */
  registry: Registry
  /** True when the host brought the registry (fastify-metrics, or the metricsRegistry option): it serves /metrics itself. */
  hosts: boolean
  /** The port of the metrics' own listener once it listens (ROOMLER__REALTIME__METRICS_PORT). */
  listenerPort?: number
}

/** The registry of a host that registered fastify-metrics (its prom-client's global one). */
function hostRegistry(fastify: Parameters<FastifyPluginAsync>[0]): Registry | undefined {
  if (!fastify.hasDecorator('metrics')) return undefined
  const client = (fastify as unknown as { metrics?: { client?: { register?: Registry } } }).metrics?.client
  return client?.register
}

/**
 * The metrics: plain counters on the hot path, registered with prom-client
 * for the scrape. A host's registry (its fastify-metrics, or one passed as
 * `metricsRegistry`) gets our series beside its own; otherwise a registry of
 * our own with the default process and Node.js metrics.
 */
const metricsPlugin: FastifyPluginAsync<Pick<RealtimePluginOptions, 'metricsRegistry'>> = async (instance, options) => {
  const fastify = internal(instance)
  const metrics = new Metrics(fastify.realtimeConfig.realtime.metricsEventTypes)
  const given = options.metricsRegistry ?? hostRegistry(fastify)
  const registry = given ?? new Registry()
  fastify.decorate('realtimeMetrics', metrics)
  fastify.decorate('realtimeMetricsRegistry', { registry, hosts: given !== undefined })
  // Read at scrape time: by then every part the gauges read exists.
  const gauges = () => ({
    connections: fastify.wsRegistry.connectionCount,
    users: fastify.wsRegistry.userCount,
    typists: fastify.realtimeTyping.size,
    presenceWriteBacklog: fastify.presenceWriter.backlog,
    presenceSubscriptions: fastify.realtimePresenceSubscriptions.size,
  })
  metrics.register(registry, gauges, given === undefined)
  if (given) {
    // The host's registry outlives the plugin only if the host closes later; take our series out with us.
    fastify.addHook('onClose', async () => {
      for (const name of registry.getMetricsAsArray().map((m) => (m as { name: string }).name)) {
        if (name.startsWith('roomler_')) registry.removeSingleMetric(name)
      }
    })
  }
}

export default fp(metricsPlugin, { name: 'realtime-metrics', fastify: '5.x', dependencies: ['realtime-config'] })
