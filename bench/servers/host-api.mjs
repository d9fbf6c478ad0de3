// A host API for the embedding cost (bench/host.mjs): Fastify with its own
// @fastify/jwt and fastify-metrics (route histograms on every request, as
// hosts run it), and a REST route that reads a JSON body's worth of items.
// BENCH_HOST_REALTIME=1 registers the service from dist/ under '/realtime',
// checking the host-signed tokens, with the bench's stores; otherwise the
// same host without it. Logging at `warn`, as the other bench servers.
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyMetricsModule from 'fastify-metrics'
import { ISSUER, SECRET, serveIpc } from '../lib/common.mjs'

const fastifyMetrics = fastifyMetricsModule.default ?? fastifyMetricsModule
const withRealtime = process.env.BENCH_HOST_REALTIME === '1'

const app = Fastify({ logger: { level: 'warn' } })
await app.register(fastifyJwt, { secret: SECRET })
await app.register(fastifyMetrics, { endpoint: '/metrics' })

const items = Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], price: i * 1.5 }))
app.get('/api/items', async () => items)

if (withRealtime) {
  const { default: realtime } = await import(new URL(`${process.env.BENCH_DIST ?? '../../dist'}/app.js`, import.meta.url).href)
  const stores = {
    membership: { channelMembers: async () => [], ping: async () => {} },
    presence: { chosenPresence: async () => 'invisible', write: async () => {}, markOrphansOffline: async () => 0, ping: async () => {} },
  }
  await app.register(realtime, { prefix: '/realtime', jwt: { issuer: ISSUER }, stores, realtime: { rateLimitPerSec: 1_000_000, rateLimitBurst: 1_000_000 } })
}
serveIpc({})
await app.listen({ port: 0, host: '127.0.0.1' })
process.send({ ready: true, port: app.server.address().port })
