import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { Metrics } from '../lib/support/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The counters behind GET /metrics. */
    realtimeMetrics: Metrics
  }
}

const metricsPlugin: FastifyPluginAsync = async (fastify) => {
  fastify.decorate('realtimeMetrics', new Metrics())
}

export default fp(metricsPlugin, { name: 'realtime-metrics', fastify: '5.x' })
