import fastifySwagger from '@fastify/swagger'
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { notFound, sendError, useJsonErrors } from '../lib/support/http-errors.js'
import { redactingChildLoggerFactory, realtimeLogSerializers } from '../lib/support/logging.js'
import { OPENAPI_INFO, withRouteSecurity } from '../lib/docs/openapi.js'
import type { RouteGroup } from '../lib/support/route-groups.js'
import wsRoute from '../routes/ws.js'
import healthRoutes from '../routes/health.js'
import presenceRoute from '../routes/presence.js'
import asyncApiRoute from '../routes/asyncapi.js'
import openApiRoute from '../routes/openapi.js'
import metricsRoute from '../routes/metrics.js'
import publishRoute from '../routes/publish.js'

export interface HttpOptions {
  /** Route groups on (true) or off. */
  groups: Record<RouteGroup, boolean>
  /** Answer every unmatched request of this context with the plugin's JSON 404. */
  notFound: boolean
}

/** Marks the one route an upgrade may reach. */
const WS_ROUTE = { realtimeWebSocket: true }

/**
 * A WebSocket upgrade is only for `/ws` (contract section 2): on any other
 * route of the plugin it is refused with 404 before anything is upgraded.
 */
export async function refuseStrayUpgrade(request: FastifyRequest, reply: FastifyReply) {
  if (request.ws && (request.routeOptions.config as { realtimeWebSocket?: boolean }).realtimeWebSocket !== true) {
    return sendError(reply, 404, 'not_found', 'WebSocket upgrades are served at /ws only')
  }
}

/**
 * The plugin's HTTP surface, in a context of its own under the host's
 * `prefix`: request loggers that redact tokens whatever logger the host
 * has, one JSON error shape (and its own 404 inside the prefix), stray
 * upgrades refused, @fastify/rate-limit and @fastify/swagger, and the route
 * groups that are switched on.
 */
const httpPlugin: FastifyPluginAsync<HttpOptions> = async (fastify, options) => {
  fastify.setChildLoggerFactory(redactingChildLoggerFactory)
  useJsonErrors(fastify)
  fastify.addHook('onRequest', refuseStrayUpgrade)
  if (options.notFound) fastify.setNotFoundHandler(notFound)

  // The host's @fastify/rate-limit when it has one (its store, its key); else one for this context only.
  if (!fastify.hasDecorator('rateLimit')) await fastify.register(fastifyRateLimit, { global: false })
  if (options.groups.openapi) {
    await fastify.register(fastifySwagger, { openapi: structuredClone(OPENAPI_INFO) as never, decorator: 'realtimeOpenApi', transform: withRouteSecurity as never })
  }

  await fastify.register(routes, { groups: options.groups, notFound: options.notFound })
}

async function routes(fastify: FastifyInstance, options: HttpOptions) {
  const on = options.groups
  await fastify.register(async (ws) => {
    ws.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object), ...WS_ROUTE } as typeof route.config
      route.logSerializers = { ...route.logSerializers, ...realtimeLogSerializers }
    })
    await ws.register(wsRoute)
  })
  if (on.presence) await fastify.register(presenceRoute)
  if (on.health) await fastify.register(healthRoutes)
  if (on.asyncapi) await fastify.register(asyncApiRoute)
  if (on.openapi) await fastify.register(openApiRoute)
  if (on.metrics) await fastify.register(metricsRoute)
  if (on.publish) await fastify.register(publishRoute)
}

export default httpPlugin
