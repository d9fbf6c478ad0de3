/**
 * What the plugin puts on the host's instance (issue 10): the four
 * documented decorators and nothing else. Its stores, metrics, presence,
 * typing, cluster, and the @fastify/jwt it registers for itself stay in its
 * own context, so a host that registers its own plugins of those names,
 * before or after it, collides with nothing.
 */
import t from 'tap'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import realtime from '../../app.js'
import { ISSUER, SECRET, connect, objectId, signToken, withoutOffset } from '../helper.js'

const DOCUMENTED = ['wsRegistry', 'wsDispatcher', 'realtimeConfig', 'verifyAccessToken']
const INTERNALS = [
  'realtimeStores',
  'realtimeMetrics',
  'realtimeMetricsRegistry',
  'realtimeCluster',
  'membershipCache',
  'realtimePresence',
  'realtimePresenceSubscriptions',
  'presenceWriter',
  'realtimeTyping',
]

t.test('the host gets the documented decorators only', async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(realtime, { jwt: { secret: SECRET, issuer: ISSUER } })
  await app.ready()
  for (const name of DOCUMENTED) t.ok(app.hasDecorator(name), `${name} is on the host`)
  for (const name of INTERNALS) t.notOk(app.hasDecorator(name), `${name} stays inside the plugin`)
  t.notOk(app.hasDecorator('jwt'), 'the @fastify/jwt the plugin registered for itself is not the host’s')
  t.notOk(app.hasDecorator('mongo'), 'nor is any database client of its own')
})

t.test('a host registering plugins of the same names after it: no collision, each keeps its own', async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(realtime, { jwt: { secret: SECRET, issuer: ISSUER } })
  // The host's own API tokens, with a secret of its own, and its own names for its own things.
  await app.register(fastifyJwt, { secret: 'the host’s own secret, not the realtime one' })
  app.decorate('realtimeMetrics', { mine: true })
  app.decorate('presenceWriter', 'the host’s')
  app.get('/me', async (request) => {
    await request.jwtVerify()
    return request.user
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port

  const hostToken = app.jwt.sign({ sub: 'host-user' })
  const me = await fetch(`http://127.0.0.1:${port}/me`, { headers: { authorization: `Bearer ${hostToken}` } })
  t.equal(me.status, 200, 'the host’s own jwt checks its own tokens')
  t.same(app.realtimeConfig.jwt.issuer, ISSUER, 'the documented decorators are still there')

  const user = objectId()
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`, signToken({ sub: user }))
  t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } }, 'a realtime token still connects with the realtime secret')
  t.throws(() => app.verifyAccessToken(hostToken), 'and a token of the host’s secret is not a realtime token')
})
