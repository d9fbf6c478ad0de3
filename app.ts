import fp from 'fastify-plugin'
import fastifyWebsocket from '@fastify/websocket'
import type { FastifyPluginAsync } from 'fastify'
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
import wsRoute from './routes/ws.js'
import healthRoutes from './routes/health.js'
import presenceRoute from './routes/presence.js'
import asyncApiRoute from './routes/asyncapi.js'
import metricsRoute from './routes/metrics.js'
import publishRoute from './routes/publish.js'
import { Closes } from './lib/connections/close-codes.js'
import { RegistrationError } from './lib/support/config.js'
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
export { realtimeLogSerializers } from './lib/support/logging.js'
export { CloseCode } from './lib/connections/close-codes.js'
export { ConfigError, RegistrationError } from './lib/support/config.js'
export type { RealtimeStores } from './plugins/stores.js'

/**
 * Roomler Realtime as a Fastify plugin: `app.register(realtime, options)`.
 * It adds `/ws`, `/presence`, `/health` and `/ready`, and decorates the
 * instance with `wsRegistry` and `wsDispatcher` for the host to push events.
 */
const realtime: FastifyPluginAsync<RealtimePluginOptions> = async (fastify, options) => {
  if (fastify.hasDecorator('realtimeConfig')) {
    throw new RegistrationError(
      'ROOMLER_ALREADY_REGISTERED',
      'roomler-realtime is already registered on this instance: register it once (its decorators and routes are shared by every plugin)',
    )
  }
  await fastify.register(configPlugin, options)
  const { realtime: limits } = fastify.realtimeConfig

  if (!fastify.hasDecorator('websocketServer')) {
    await fastify.register(fastifyWebsocket, {
      options: { maxPayload: limits.maxPayloadBytes },
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
  }
  await fastify.register(storesPlugin, options)
  await fastify.register(authPlugin)
  await fastify.register(registryPlugin)
  await fastify.register(metricsPlugin)
  await fastify.register(clusterPlugin)
  await fastify.register(dispatcherPlugin)
  await fastify.register(presencePlugin)
  await fastify.register(typingPlugin)
  await fastify.register(livenessPlugin)

  await fastify.register(wsRoute)
  await fastify.register(presenceRoute)
  await fastify.register(healthRoutes)
  await fastify.register(asyncApiRoute)
  await fastify.register(metricsRoute)
  await fastify.register(publishRoute)
}

export default fp(realtime, { name: 'roomler-realtime', fastify: '5.x' })
