import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { TypingService } from '../lib/typing/typing.js'

declare module 'fastify' {
  interface FastifyInstance {
    realtimeTyping: TypingService
  }
}

const typingPlugin: FastifyPluginAsync = async (fastify) => {
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
