import fp from 'fastify-plugin'
import fastifyMongo from '@fastify/mongodb'
import type { FastifyPluginAsync } from 'fastify'
import type { RealtimePluginOptions } from './config.js'
import type { MembershipStore } from '../lib/membership/membership-store.js'
import type { PresenceStore } from '../lib/presence/presence-store.js'
import { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'
import { MemoryPresenceStore } from '../lib/presence/presence-store-memory.js'
import { MongoMembershipStore } from '../lib/mongo/membership-store.js'
import { MongoPresenceStore } from '../lib/mongo/presence-store.js'
import { connectInBackground } from '../lib/mongo/client.js'

export interface RealtimeStores {
  membership: MembershipStore
  presence: PresenceStore
  /** Which backend: `mongodb`, `memory`, or `custom` (passed in by the host). */
  kind: 'mongodb' | 'memory' | 'custom'
}

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
    const mongo = connectInBackground(database.url, fastify.log)
    await fastify.register(fastifyMongo, { client: mongo.client })
    // Handed in, so @fastify/mongodb leaves it open: ours to close.
    fastify.addHook('onClose', () => mongo.close())
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
