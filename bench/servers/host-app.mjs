// The host API of the embedding-cost scenario, built (not listening):
// Fastify with its own @fastify/jwt and fastify-metrics (route histograms on
// every request, as hosts run it) and a JSON REST route; `withRealtime` adds
// the service from dist/ under '/realtime', checking the host-signed tokens,
// with stores of the bench's own. Used by servers/host-api.mjs (a process
// per variant) and host-inject.mjs (both variants in one process).
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyMetricsModule from 'fastify-metrics'
import { ISSUER, SECRET } from '../lib/common.mjs'

const fastifyMetrics = fastifyMetricsModule.default ?? fastifyMetricsModule
const items = Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], price: i * 1.5 }))

export async function buildHost(withRealtime) {
  const app = Fastify({ logger: { level: 'warn' } })
  await app.register(fastifyJwt, { secret: SECRET })
  // clearRegisterOnInit: host-inject.mjs builds two hosts on prom-client's one default registry.
  await app.register(fastifyMetrics, { endpoint: '/metrics', clearRegisterOnInit: true })
  app.get('/api/items', async () => items)
  if (withRealtime) {
    const { default: realtime } = await import(new URL(`${process.env.BENCH_DIST ?? '../../dist'}/app.js`, import.meta.url).href)
    const stores = {
      membership: { channelMembers: async () => [], ping: async () => {} },
      presence: { chosenPresence: async () => 'invisible', write: async () => {}, markOrphansOffline: async () => 0, ping: async () => {} },
    }
    await app.register(realtime, { prefix: '/realtime', jwt: { issuer: ISSUER }, stores, realtime: { rateLimitPerSec: 1_000_000, rateLimitBurst: 1_000_000 } })
  }
  return app
}
