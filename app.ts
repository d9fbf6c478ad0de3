import fp from 'fastify-plugin'
import fastifyWebsocket from '@fastify/websocket'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import configPlugin, { type RealtimePluginOptions } from './plugins/config.js'
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
import { rememberInternals } from './plugins/internals.js'
import { Closes } from './lib/connections/close-codes.js'
import { RegistrationError } from './lib/support/config.js'
import { resolveRouteGroups } from './lib/support/route-groups.js'
import { runBeforeOtherPreClose } from './lib/support/shutdown-order.js'
// The decorators' types are module augmentations of 'fastify', one beside each plugin.
// These imports keep them in app.d.ts, so that a host importing the package sees them.
import './plugins/config.js'
import './plugins/stores.js'
import './plugins/auth.js'
import './plugins/registry.js'
import './plugins/metrics.js'
import './plugins/cluster.js'
import './plugins/dispatcher.js'
import './plugins/presence.js'
import './plugins/typing.js'

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
 * `prefix`, and decorates the instance with `wsRegistry` and `wsDispatcher`
 * for the host to push events.
 */
const realtime: FastifyPluginAsync<RealtimePluginOptions> = async (fastify, options) => {
  if (fastify.hasDecorator('realtimeConfig')) {
    throw new RegistrationError(
      'ROOMLER_ALREADY_REGISTERED',
      'roomler-realtime is already registered on this instance: register it once (its decorators and routes are shared by every plugin)',
    )
  }
  // Fastify's own register options are not settings of ours.
  const { prefix, routes, standalone = false, metricsRegistry, logLevel: _logLevel, logSerializers: _logSerializers, ...settings } =
    options as RealtimePluginOptions & { logLevel?: unknown; logSerializers?: unknown }
  const groups = resolveRouteGroups(routes)
  await fastify.register(configPlugin, settings)
  rememberInternals(fastify, fastify)
  const { realtime: limits } = fastify.realtimeConfig

  await useWebSocketServer(fastify, limits.maxPayloadBytes)
  await fastify.register(storesPlugin, settings)
  await fastify.register(authPlugin)
  await fastify.register(registryPlugin)
  await fastify.register(metricsPlugin, { metricsRegistry })
  await fastify.register(clusterPlugin)
  await fastify.register(dispatcherPlugin)
  await fastify.register(presencePlugin)
  await fastify.register(typingPlugin)
  await fastify.register(livenessPlugin)

  // Before any other preClose (a host's @fastify/websocket closes sockets bare): ours go away with 1001.
  const registry = fastify.wsRegistry
  runBeforeOtherPreClose(fastify, async () => {
    for (const connection of [...registry.connections()]) connection.close('GOING_AWAY')
  })

  // A host that serves its own registry (fastify-metrics) serves our series there; /metrics of ours only if asked.
  if (routes?.metrics === undefined && fastify.realtimeMetricsRegistry.hosts) groups.metrics = false
    // The whole application: no upgrade on any path but /ws, whoever's route it is.
  if (standalone) fastify.addHook('onRequest', refuseStrayUpgrade)
  await fastify.register(httpPlugin, { prefix, groups, notFound: standalone || prefix !== undefined })
}

export default fp(realtime, { name: 'roomler-realtime', fastify: '5.x' })
