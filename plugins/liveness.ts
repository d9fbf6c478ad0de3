import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { LivenessSweep } from '../lib/protocol/liveness.js'
import { internal } from './internals.js'

/** The sweep's period: fine enough for the shortest of the timeouts it serves, at most once a second. */
function sweepPeriod(typingTimeoutMs: number, heartbeatMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(typingTimeoutMs / 4), Math.floor(heartbeatMs / 4)))
}

const livenessPlugin: FastifyPluginAsync = async (instance) => {
  const fastify = internal(instance)
  const { typingTimeoutMs, heartbeatMs } = fastify.realtimeConfig.realtime
  const sweep = new LivenessSweep(fastify.wsRegistry, fastify.realtimeTyping, fastify.membershipCache, heartbeatMs)
  fastify.addHook('onReady', async () => sweep.start(sweepPeriod(typingTimeoutMs, heartbeatMs)))
  fastify.addHook('preClose', async () => sweep.stop())
}

export default fp(livenessPlugin, {
  name: 'realtime-liveness',
  fastify: '5.x',
  dependencies: ['realtime-registry', 'realtime-typing', 'realtime-dispatcher'],
})
