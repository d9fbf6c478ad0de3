import type { FastifyPluginAsync } from 'fastify'

type DependencyState = 'ok' | 'down' | 'memory'

/** How long /ready waits for a dependency before calling it down. */
const READY_TIMEOUT_MS = 1000

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** `GET /health`: the process runs. `GET /ready`: every dependency answers. */
const healthRoutes: FastifyPluginAsync = async (fastify) => {
  const stores = fastify.realtimeStores

  fastify.get('/health', async () => ({ status: 'ok' }))

  fastify.get('/ready', async (_request, reply) => {
    let database: DependencyState = 'memory'
    if (stores.kind !== 'memory') {
      database = await withTimeout(Promise.all([stores.membership.ping(), stores.presence.ping()]).then(() => {}), READY_TIMEOUT_MS).then(
        () => 'ok' as const,
        () => 'down' as const,
      )
    }
    const ready = database !== 'down'
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', dependencies: { database } })
  })
}

export default healthRoutes
