import fp from 'fastify-plugin'
import fastifyMongo from '@fastify/mongodb'
import { MongoClient } from 'mongodb'
import type { FastifyPluginAsync } from 'fastify'
import type { RealtimePluginOptions } from './config.js'
import type { MembershipStore } from '../lib/membership/membership-store.js'
import type { PresenceStore } from '../lib/presence/presence-store.js'
import { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'
import { MemoryPresenceStore } from '../lib/presence/presence-store-memory.js'
import { MongoMembershipStore } from '../lib/mongo/membership-store.js'
import { MongoPresenceStore } from '../lib/mongo/presence-store.js'

export interface RealtimeStores {
  membership: MembershipStore
  presence: PresenceStore
  /** Which backend: `mongodb`, `memory`, or `custom` (passed in by the host). */
  kind: 'mongodb' | 'memory' | 'custom'
}

declare module 'fastify' {
  interface FastifyInstance {
    realtimeStores: RealtimeStores
  }
}

/** How long a database call may wait for a server before it fails (and the client gets `unavailable`). */
const SERVER_SELECTION_TIMEOUT_MS = 3000
const FIRST_CONNECT_RETRY_MS = 250
const MAX_CONNECT_RETRY_MS = 5000

/**
 * Picks the stores: the host's own if given; else MongoDB, through a
 * `@fastify/mongodb` the host registered or one registered here from
 * ROOMLER__DATABASE__URL; else the in-memory default.
 */
const storesPlugin: FastifyPluginAsync<RealtimePluginOptions> = async (fastify, options) => {
  const { database } = fastify.realtimeConfig
  const given = options.stores
  if (given?.membership && given.presence) {
    fastify.decorate('realtimeStores', { membership: given.membership, presence: given.presence, kind: 'custom' })
    return
  }
  if (!fastify.hasDecorator('mongo') && database.url) {
    // Connected in the background, so the service starts (and serves) while the
    // database is down. A failed first connect leaves the driver's topology
    // closed for good, so it is retried here until it succeeds.
    const client = new MongoClient(database.url, { serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS })
    let closing = false
    let retry: NodeJS.Timeout | undefined
    const connect = (delayMs: number) => {
      client.connect().catch((error: unknown) => {
        if (closing) return
        if (delayMs === FIRST_CONNECT_RETRY_MS) fastify.log.warn({ err: error }, 'MongoDB is not reachable yet; retrying')
        retry = setTimeout(() => connect(Math.min(delayMs * 2, MAX_CONNECT_RETRY_MS)), delayMs)
        retry.unref()
      })
    }
    connect(FIRST_CONNECT_RETRY_MS)
    await fastify.register(fastifyMongo, { client })
    // Handed in, so @fastify/mongodb leaves it open: ours to close.
    fastify.addHook('onClose', () => {
      closing = true
      clearTimeout(retry)
      return client.close(true)
    })
  }
  if (fastify.hasDecorator('mongo')) {
    const db = fastify.mongo.client.db(database.name)
    fastify.decorate('realtimeStores', {
      membership: given?.membership ?? new MongoMembershipStore(db),
      presence: given?.presence ?? new MongoPresenceStore(db),
      kind: 'mongodb',
    })
    return
  }
  fastify.decorate('realtimeStores', {
    membership: given?.membership ?? new MemoryMembershipStore(),
    presence: given?.presence ?? new MemoryPresenceStore(),
    kind: 'memory',
  })
}

export default fp(storesPlugin, { name: 'realtime-stores', fastify: '5.x', dependencies: ['realtime-config'] })
