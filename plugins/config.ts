import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import type { RealtimeConfig, RealtimeOptions } from '../schemas/config.js'
import { resolveConfig, usesDevSecret } from '../lib/support/config.js'
import type { MembershipStore } from '../lib/membership/membership-store.js'
import type { PresenceStore } from '../lib/presence/presence-store.js'
import type { RouteSwitches } from '../lib/support/route-groups.js'
import type { Registry } from 'prom-client'

/** What `app.register(realtime, options)` takes: the configuration, plus ports a host may supply. */
export interface RealtimePluginOptions extends RealtimeOptions {
  /** Refuse the development JWT secret (default: NODE_ENV === 'production'). */
  production?: boolean
  /** Stores of the host's own, instead of MongoDB or the in-memory default. */
  stores?: { membership?: MembershipStore; presence?: PresenceStore }
  /** Fastify's prefix, honoured by every route of the plugin (`/realtime` gives `/realtime/ws`, …). */
  prefix?: string
  /** Route groups to switch off (`{ metrics: false }`); each is on by default. `/ws` is always on. */
  routes?: RouteSwitches
  /**
   * The plugin is the whole application (the standalone server sets it): its JSON 404 and its
   * refusal of stray WebSocket upgrades hold for every path. Embedded, they hold under the prefix.
   */
  standalone?: boolean
  /** A prom-client Registry of the host's to put the series in (fastify-metrics' is found by itself). */
  metricsRegistry?: Registry
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The validated configuration the service runs with. */
    realtimeConfig: RealtimeConfig
  }
}

/**
 * The configuration from the plugin's options (and, for what they leave out,
 * the environment), checked before anything is registered.
 */
export function configOf(fastify: FastifyInstance, options: RealtimePluginOptions): RealtimeConfig {
  const { production = process.env.NODE_ENV === 'production', stores: _stores, ...config } = options
  // A host that registered its own @fastify/jwt signs with its own secret: jwt.secret is not used then.
  const hostJwt = fastify.hasDecorator('jwt')
  const resolved = resolveConfig(config, { production: production && !hostJwt })
  if (!hostJwt && usesDevSecret(resolved)) {
    fastify.log.warn('roomler-realtime: jwt.secret is not set, so tokens are checked with the development secret (refused when NODE_ENV=production)')
  }
  return resolved
}

const configPlugin: FastifyPluginAsync<{ config: RealtimeConfig }> = async (fastify, { config }) => {
  fastify.decorate('realtimeConfig', config)
}
export default fp(configPlugin, { name: 'realtime-config', fastify: '5.x' })
