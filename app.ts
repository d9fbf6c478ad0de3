import fp from 'fastify-plugin'
import fastifyWebsocket from '@fastify/websocket'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import configPlugin, { configOf, type RealtimePluginOptions } from './plugins/config.js'
import storesPlugin from './plugins/stores.js'
import authPlugin from './plugins/auth.js'
import registryPlugin from './plugins/registry.js'
import dispatcherPlugin from './plugins/dispatcher.js'
import presencePlugin from './plugins/presence.js'
import typingPlugin from './plugins/typing.js'
import livenessPlugin from './plugins/liveness.js'
import metricsPlugin from './plugins/metrics.js'
import clusterPlugin from './plugins/cluster.js'
import httpPlugin, { refuseStrayUpgrade } from './plugins/http.js'
import { internal, rememberInternals } from './plugins/internals.js'
import { Closes } from './lib/connections/close-codes.js'
import { RegistrationError } from './lib/support/config.js'
import { resolveRouteGroups } from './lib/support/route-groups.js'
// The four documented decorators' types are module augmentations of 'fastify', beside their plugins.
// These imports keep them in app.d.ts, so that a host importing the package sees them (and only them).
import './plugins/config.js'
import './plugins/auth.js'
import './plugins/registry.js'
import './plugins/dispatcher.js'

export type { RealtimePluginOptions } from './plugins/config.js'
export type { RealtimeConfig, RealtimeOptions } from './schemas/config.js'
export type { Dispatcher, OutgoingMessage, ExcludeOptions } from './lib/delivery/dispatcher.js'
export type { ConnectionRegistry } from './lib/connections/registry.js'
export type { Connection } from './lib/connections/connection.js'
export type { MembershipStore } from './lib/membership/membership-store.js'
export type { PresenceStore, PresenceRecord } from './lib/presence/presence-store.js'
export type { RouteGroup, RouteSwitches } from './lib/support/route-groups.js'
export { realtimeLogSerializers, redactingLoggerOptions } from './lib/support/logging.js'
export { CloseCode } from './lib/connections/close-codes.js'
export { ConfigError, RegistrationError } from './lib/support/config.js'
export type { RealtimeStores } from './plugins/stores.js'

/**
 * The WebSocket server: the host's @fastify/websocket when it registered one
 * first (its sockets then get our payload limit one by one), else our own.
 */
async function useWebSocketServer(fastify: FastifyInstance, maxPayloadBytes: number): Promise<void> {
  if (!fastify.hasDecorator('websocketServer')) {
    await fastify.register(fastifyWebsocket, {
      options: { maxPayload: maxPayloadBytes },
      // A client's protocol mistake (an oversized frame, bad UTF-8) is theirs, not ours:
      // ws closes it with the right code; log it quietly and let the close finish.
      errorHandler(error: Error & { code?: string }, socket, request) {
        if (error.code?.startsWith('WS_ERR_')) {
          request.log.debug({ err: error }, 'websocket protocol error from the client')
          return
        }
        request.log.error({ err: error }, 'websocket error')
        socket.terminate()
      },
      // Going away, not the bare close ws would send: clients reconnect elsewhere.
      preClose(done) {
        for (const client of fastify.websocketServer.clients) client.close(Closes.GOING_AWAY.code, Closes.GOING_AWAY.text)
        done()
      },
    })
    return
  }
  // Its sockets get MAX_PAYLOAD_BYTES one by one, when our route is handed them (lib/protocol/session.ts).
}

/**
 * Roomler Realtime as a Fastify plugin: `app.register(realtime, options)`.
 * It adds `/ws`, `/presence`, `/health`, `/ready`, … under the host's
 * `prefix`. Everything it is made of lives in a context of its own; the
 * host's instance gets four decorators only: `wsRegistry` and
 * `wsDispatcher` to push events, `realtimeConfig`, and `verifyAccessToken`.
 */
const realtime: FastifyPluginAsync<RealtimePluginOptions> = async (fastify, options) => {
  if (fastify.hasDecorator('realtimeConfig')) {
    throw new RegistrationError(
      'ROOMLER_ALREADY_REGISTERED',
      'roomler-realtime is already registered on this instance: register it once (its decorators and routes are shared by every plugin)',
    )
  }
  // Fastify's own register options are not settings of ours.
  const { prefix: given, routes, standalone = false, metricsRegistry, logLevel: _logLevel, logSerializers: _logSerializers, ...settings } =
    options as RealtimePluginOptions & { logLevel?: unknown; logSerializers?: unknown }
  const groups = resolveRouteGroups(routes)
  // '' and '/' are no prefix: the routes sit at the root, and the host's own 404 stays the host's.
  const prefix = given === undefined || given.replace(/\/+$/, '') === '' ? undefined : given

  const config = configOf(fastify, settings)
  // One WebSocket server for the whole application (two would both answer every upgrade): the host's, or ours on the host.
  await useWebSocketServer(fastify, config.realtime.maxPayloadBytes)

  let context: FastifyInstance | undefined
  await fastify.register(async function roomlerRealtime(inner) {
    context = inner
    await inner.register(configPlugin, { config })
    await inner.register(storesPlugin, settings)
    await inner.register(authPlugin)
    await inner.register(registryPlugin)
    await inner.register(metricsPlugin, { metricsRegistry })
    await inner.register(clusterPlugin)
    await inner.register(dispatcherPlugin)
    await inner.register(presencePlugin)
    await inner.register(typingPlugin)
    await inner.register(livenessPlugin)
    // A host that serves its own registry (fastify-metrics) serves our series there; /metrics of ours only if asked.
    if (routes?.metrics === undefined && internal(inner).realtimeMetricsRegistry.hosts) groups.metrics = false
    await inner.register(httpPlugin, { prefix, groups, notFound: standalone || prefix !== undefined })
  })
  const inner = context!
  rememberInternals(fastify, inner)
  fastify.decorate('realtimeConfig', inner.realtimeConfig)
  fastify.decorate('verifyAccessToken', inner.verifyAccessToken)
  fastify.decorate('wsRegistry', inner.wsRegistry)
  fastify.decorate('wsDispatcher', inner.wsDispatcher)

  // The whole application: no upgrade on any path but /ws, whoever's route it is.
  if (standalone) fastify.addHook('onRequest', refuseStrayUpgrade)
}

export default fp(realtime, { name: 'roomler-realtime', fastify: '5.x' })
