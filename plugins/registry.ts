import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { ConnectionRegistry } from '../lib/connections/registry.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Every open WebSocket on this instance, by user (Roomler2's WsStorage). */
    wsRegistry: ConnectionRegistry
  }
}

const registryPlugin: FastifyPluginAsync = async (fastify) => {
  fastify.decorate('wsRegistry', new ConnectionRegistry())
}

export default fp(registryPlugin, { name: 'realtime-registry', fastify: '5.x' })
