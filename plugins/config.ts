import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { RealtimeConfig, RealtimeOptions } from '../schemas/config.js'
import { resolveConfig } from '../lib/config.js'
import type { MembershipStore } from '../lib/stores/membership-store.js'
import type { PresenceStore } from '../lib/stores/presence-store.js'

/** What `app.register(realtime, options)` takes: the configuration, plus ports a host may supply. */
export interface RealtimePluginOptions extends RealtimeOptions {
  /** Refuse the development JWT secret (default: NODE_ENV === 'production'). */
  production?: boolean
  /** Stores of the host's own, instead of MongoDB or the in-memory default. */
  stores?: { membership?: MembershipStore; presence?: PresenceStore }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The validated configuration the service runs with. */
    realtimeConfig: RealtimeConfig
  }
}

const configPlugin: FastifyPluginAsync<RealtimePluginOptions> = async (fastify, options) => {
  const { production = process.env.NODE_ENV === 'production', stores: _stores, ...config } = options
  fastify.decorate('realtimeConfig', resolveConfig(config, { production }))
}

export default fp(configPlugin, { name: 'realtime-config', fastify: '5.x' })
