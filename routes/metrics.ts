import type { FastifyContextConfig, FastifyPluginAsync } from 'fastify'
import { sendError } from '../lib/support/http-errors.js'
import { bearerKeyCheck } from '../lib/support/bearer.js'
import { MetricsListener } from '../lib/support/metrics-listener.js'
import { HttpError } from '../schemas/errors.js'
import { internal } from '../plugins/internals.js'

/**
 * `GET /metrics`: Prometheus text from the plugin's registry. With a metrics
 * key it asks for `Authorization: Bearer <key>`; with a metrics port it is
 * served only there, on a listener of its own.
 */
const metricsRoute: FastifyPluginAsync = async (instance) => {
  const fastify = internal(instance)
  const holder = fastify.realtimeMetricsRegistry
  const { registry } = holder
  const { metricsKey, metricsPort } = fastify.realtimeConfig.realtime
  const check = metricsKey === undefined ? undefined : bearerKeyCheck(metricsKey)
  const authorize = (authorization: string | undefined) => check === undefined || check(authorization) === 'ok'

  if (metricsPort !== undefined) {
    const listener = new MetricsListener(registry, authorize)
    fastify.addHook('onReady', async () => {
      const port = await listener.listen(fastify.realtimeConfig.app.host, metricsPort)
      fastify.log.info({ port }, 'metrics listening on a port of their own')
      holder.listenerPort = port
    })
    fastify.addHook('onClose', () => listener.close())
    return
  }

  const schema = {
    summary: 'Prometheus text: the series of this instance (and the process, with a registry of our own)',
    tags: ['metrics'],
    response: { 200: { type: 'string', description: 'text/plain; version=0.0.4' }, 401: HttpError },
  }
  const config: FastifyContextConfig = check === undefined ? {} : { openApiSecurity: [{ metricsKey: [] }] }
  fastify.get('/metrics', { schema, config }, async (request, reply) => {
    if (!authorize(request.headers.authorization)) {
      return sendError(reply, 401, 'unauthorized', 'send the metrics key as Authorization: Bearer <METRICS_KEY>')
    }
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}

export default metricsRoute
