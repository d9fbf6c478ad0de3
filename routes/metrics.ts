import type { FastifyPluginAsync } from 'fastify'

/** `GET /metrics`: Prometheus text. */
const metricsRoute: FastifyPluginAsync = async (fastify) => {
  fastify.get('/metrics', async (_request, reply) => {
    const text = fastify.realtimeMetrics.render({
      connections: fastify.wsRegistry.connectionCount,
      users: fastify.wsRegistry.userCount,
      typists: fastify.realtimeTyping.size,
      presenceWriteBacklog: fastify.presenceWriter.backlog,
    })
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text)
  })
}

export default metricsRoute
