// The service under test: the plugin from dist/ on a fresh Fastify, with
// stores of the bench's own (membership and chosen presence seeded by the
// runner over IPC), rate limits lifted so saturation is the server's, and
// logging at `warn` (no line per request). BENCH_REDIS_URL runs it as one of
// many instances; BENCH_PRESENCE_SCOPE sets PRESENCE_SCOPE, BENCH_RECOVERY_EVENTS sets RECOVERY_EVENTS (0: no history).
import Fastify from 'fastify'
import { ISSUER, SECRET, serveIpc } from '../lib/common.mjs'

// BENCH_DIST: another build of the service (the runner's `roomler-before`, built from the last commit).
const { default: realtime } = await import(new URL(`${process.env.BENCH_DIST ?? '../../dist'}/app.js`, import.meta.url).href)

class BenchMembership {
  channels = new Map()
  async channelMembers(channelId) {
    return [...(this.channels.get(channelId) ?? [])]
  }
  async ping() {}
}
class BenchPresence {
  invisible = new Set()
  async chosenPresence(userId) {
    return this.invisible.has(userId) ? 'invisible' : undefined
  }
  async write() {}
  async markOrphansOffline() {
    return 0
  }
  async ping() {}
}

const membership = new BenchMembership()
const presence = new BenchPresence()
const app = Fastify({ logger: { level: 'warn' } })
await app.register(realtime, {
  jwt: { secret: SECRET, issuer: ISSUER },
  realtime: {
    rateLimitPerSec: 1_000_000,
    rateLimitBurst: 1_000_000,
    typingRatePerSec: 1_000_000,
    // BENCH_PRESENCE_SCOPE: the presence-scope scenario runs both.
    ...(process.env.BENCH_PRESENCE_SCOPE ? { presenceScope: process.env.BENCH_PRESENCE_SCOPE } : {}),
    ...(process.env.BENCH_RECOVERY_EVENTS ? { recoveryEvents: Number(process.env.BENCH_RECOVERY_EVENTS) } : {}),
  },
  ...(process.env.BENCH_REDIS_URL ? { redis: { url: process.env.BENCH_REDIS_URL } } : {}),
  stores: { membership, presence },
})
serveIpc({
  seed({ channels, invisible }) {
    for (const [channel, list] of channels) membership.channels.set(channel, new Set(list))
    for (const id of invisible) presence.invisible.add(id)
  },
  /**
   * Application events: `count` of them, to the channels in turn (each to its
   * members) or each to all of `users`, published `batch` at a time with a
   * turn of the event loop between batches (so that the sockets are written).
   */
  async publish({ channels, users, count, batch = 20 }) {
    const dispatcher = app.wsDispatcher
    for (let i = 0; i < count; i++) {
      const event = { type: 'message:new', data: { n: i, text: 'an application event of a typical size, with some text in it' } }
      if (channels) await dispatcher.sendToChannel(channels[i % channels.length], event)
      else dispatcher.broadcast(users, event)
      if (i % batch === batch - 1) await new Promise((resolve) => setImmediate(resolve))
    }
  },
  heapUsed() {
    globalThis.gc?.()
    globalThis.gc?.()
    return process.memoryUsage().heapUsed
  },
})
await app.ready()
if (process.env.BENCH_NO_METRICS) {
  // The runner's `roomler-nometrics`: the same build with the metrics' hot-path calls made no-ops, so that a run
  // beside `roomler` shows what counting costs per delivery (the embedding issue allows at most 3%).
  const { internalsOf } = await import(new URL(`${process.env.BENCH_DIST ?? '../../dist'}/plugins/internals.js`, import.meta.url).href)
  const metrics = internalsOf(app).realtimeMetrics
  const nothing = () => {}
  metrics.delivered = nothing
  metrics.messagesIn.add = nothing
  metrics.messagesOut.add = nothing
}
await app.listen({ port: 0, host: '127.0.0.1' })
process.send({ ready: true, port: app.server.address().port })
