import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { PresenceService } from '../lib/presence.js'
import { PresenceWriter } from '../lib/presence-writer.js'

declare module 'fastify' {
  interface FastifyInstance {
    realtimePresence: PresenceService
    /** Presence writes on their way to the database (retried while it is down). */
    presenceWriter: PresenceWriter
  }
}

/** How long a closing server waits for presence writes to land. */
const DRAIN_ON_CLOSE_MS = 3000

const presencePlugin: FastifyPluginAsync = async (fastify) => {
  const store = fastify.realtimeStores.presence
  const log = fastify.log.child({ component: 'presence' })
  const writer = new PresenceWriter(store, log)
  fastify.decorate('presenceWriter', writer)
  fastify.decorate('realtimePresence', new PresenceService(store, writer, fastify.wsDispatcher, log))
  fastify.addHook('onClose', async () => {
    if (!(await writer.drain(DRAIN_ON_CLOSE_MS))) {
      log.warn({ backlog: writer.backlog }, 'closing with presence writes that did not reach the database')
    }
    writer.close()
  })
}

export default fp(presencePlugin, {
  name: 'realtime-presence',
  fastify: '5.x',
  dependencies: ['realtime-stores', 'realtime-dispatcher'],
})
