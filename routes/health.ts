import type { FastifyPluginAsync } from 'fastify'

import { withTimeout } from '../lib/support/timeout.js'
import { HealthAnswer, ReadyAnswer } from '../schemas/http.js'
import { internal } from '../plugins/internals.js'

type DependencyState = 'ok' | 'down' | 'memory' | 'none'

/** How long /ready waits for a dependency before calling it down. */
const READY_TIMEOUT_MS = 1000

/** `GET /health`: the process runs. `GET /ready`: every dependency answers. */
const healthRoutes: FastifyPluginAsync = async (instance) => {
  const fastify = internal(instance)
  const stores = fastify.realtimeStores

  fastify.get('/health', { schema: { summary: 'The process runs', tags: ['health'], response: { 200: HealthAnswer } } }, async () => ({ status: 'ok' as const }))

  fastify.get('/ready', { schema: { summary: 'Every dependency answers', tags: ['health'], response: { 200: ReadyAnswer, 503: ReadyAnswer } } }, async (_request, reply) => {
    let database: DependencyState = 'memory'
    if (stores.kind !== 'memory') {
      const pings = Promise.all([stores.membership.ping(), stores.presence.ping()])
      database = await withTimeout(pings, READY_TIMEOUT_MS).then(
        () => 'ok' as const,
        () => 'down' as const,
      )
    }
    const redis = fastify.realtimeCluster.redisState()
    const ready = database !== 'down' && redis !== 'down'
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', dependencies: { database, redis } })
  })
}

export default healthRoutes
