import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { TypingService } from '../lib/typing/typing.js'
import { internal } from './internals.js'

const typingPlugin: FastifyPluginAsync = async (instance) => {
  const fastify = internal(instance)
  fastify.decorate(
    'realtimeTyping',
    new TypingService(
      fastify.membershipCache,
      fastify.wsDispatcher,
      fastify.realtimeCluster.typing,
      fastify.realtimeCluster.instanceId,
      fastify.realtimeConfig.realtime.typingTimeoutMs,
    ),
  )
}

export default fp(typingPlugin, { name: 'realtime-typing', fastify: '5.x', dependencies: ['realtime-dispatcher'] })
