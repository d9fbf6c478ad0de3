import type { FastifyInstance } from 'fastify'
import type { MembershipCache } from '../lib/membership/membership-cache.js'
import type { PresenceService } from '../lib/presence/presence.js'
import type { PresenceWriter } from '../lib/presence/presence-writer.js'
import type { PresenceSubscriptions } from '../lib/presence/subscriptions.js'
import type { Metrics } from '../lib/support/metrics.js'
import type { TypingService } from '../lib/typing/typing.js'
import type { RealtimeCluster } from './cluster.js'
import type { RealtimeMetricsRegistry } from './metrics.js'
import type { RealtimeStores } from './stores.js'

/**
 * What the plugin's own encapsulated context is decorated with besides the
 * four documented decorators (`wsRegistry`, `wsDispatcher`, `realtimeConfig`,
 * `verifyAccessToken`). None of it reaches the host's instance, and none of
 * it is declared on Fastify's own types: a host's `app.realtimeStores` is
 * neither there nor type-checks.
 */
export interface RealtimeInternals {
  realtimeStores: RealtimeStores
  /** The counters behind GET /metrics. */
  realtimeMetrics: Metrics
  realtimeMetricsRegistry: RealtimeMetricsRegistry
  /** What this instance shares with the others: events, presence, typing. */
  realtimeCluster: RealtimeCluster
  /** Channel membership, cached for at most MEMBERSHIP_CACHE_MS. */
  membershipCache: MembershipCache
  realtimePresence: PresenceService
  /** presence:subscribe and presence:unsubscribe (PRESENCE_SCOPE). */
  realtimePresenceSubscriptions: PresenceSubscriptions
  /** Presence writes on their way to the database (retried while it is down). */
  presenceWriter: PresenceWriter
  realtimeTyping: TypingService
}

/** The plugin's own context, with its internals. */
export type RealtimeContext = FastifyInstance & RealtimeInternals

/** A plugin or route of ours, registered inside the plugin's context, reads the internals through this. */
export function internal(fastify: FastifyInstance): RealtimeContext {
  return fastify as RealtimeContext
}

const contexts = new WeakMap<object, RealtimeContext>()

export function rememberInternals(host: FastifyInstance, context: FastifyInstance): void {
  contexts.set(host, internal(context))
}

/**
 * The plugin's context, by the host instance it was registered on: for the
 * tests and the standalone server (and nothing a host should rely on).
 */
export function internalsOf(host: FastifyInstance): RealtimeContext {
  const context = contexts.get(host)
  if (!context) throw new Error('roomler-realtime is not registered on this instance')
  return context
}
