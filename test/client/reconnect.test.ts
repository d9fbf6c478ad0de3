/**
 * Reconnecting on demand (issue 12): `reconnect()` replaces the connection
 * at once, and the browser's `online` event ends the wait before the next
 * attempt (or, while open, checks the link with a ping). Real service; the
 * `online` events come from an EventTarget the test fires, as a page's
 * `window` fires them.
 */
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import realtime from '../../app.js'
import { ISSUER, SECRET, WAIT_MS, build, eventually, objectId, signToken } from '../helper.js'
import { freePort } from '../servers/ports.js'
import { nextMessage, nextState, recordedClient, stateIs } from './tools.js'
import { internalsOf } from '../../plugins/internals.js'

async function listenOn(port: number): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(realtime, { jwt: { secret: SECRET, issuer: ISSUER } })
  await app.listen({ port, host: '127.0.0.1' })
  return app
}

t.test('reconnect() drops the connection and opens a new one at once', async (t) => {
  const { app, wsUrl } = await build(t)
  const user = objectId()
  const { c, states, messages } = recordedClient(t, { url: wsUrl, token: signToken({ sub: user }), reconnect: { initialDelayMs: 60_000 } })
  await c.connect().ready()
  const [first] = app.wsRegistry.senders(user)

  const reopened = nextState(c, stateIs('open'), 'open again')
  c.reconnect()
  await reopened
  const reconnecting = states.find((s) => s.state === 'reconnecting')
  t.equal(reconnecting?.delayMs, 0, 'no backoff: it was asked for')
  t.match(reconnecting?.reason?.message, /reconnect\(\)/)
  t.equal(messages.filter((m) => m.type === 'connected').length, 2, 'a second `connected`')
  await eventually(() => app.wsRegistry.senders(user).size === 1 && ![...app.wsRegistry.senders(user)].includes(first!), WAIT_MS, 'the old connection gone, the new one held')
  t.ok((await c.ping()) >= 0, 'the new connection answers')

  // Closed for good, reconnect() connects again.
  c.close()
  await c.reconnect().ready()
  t.equal(c.state, 'open')
})

t.test('the network is back (`online`): a client waiting out its backoff reconnects at once', async (t) => {
  const port = await freePort()
  let app = await listenOn(port)
  t.teardown(() => app.close())
  const online = new EventTarget()
  const { c } = recordedClient(t, {
    url: `ws://127.0.0.1:${port}/ws`,
    token: signToken({ sub: objectId() }),
    // Once down, the client waits at least 30 s before its next attempt…
    reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
    onlineEvents: online,
  })
  await c.connect().ready()
  const waiting = nextState(c, stateIs('reconnecting'), 'to reconnecting')
  await app.close()
  t.ok((await waiting).delayMs! >= 30_000, 'the next attempt is 30 s or more away')
  app = await listenOn(port)

  // …unless the browser says the network is back.
  const open = nextState(c, stateIs('open'), 'open, long before the backoff ends')
  online.dispatchEvent(new Event('online'))
  await open
  t.ok((await c.ping()) >= 0, 'connected to the restarted server')
})

t.test('`online` while open checks the link with a ping', async (t) => {
  const { app, wsUrl } = await build(t)
  const online = new EventTarget()
  const { c } = recordedClient(t, { url: wsUrl, token: signToken({ sub: objectId() }), onlineEvents: online })
  await c.connect().ready()
  const pong = nextMessage(c, 'pong')
  online.dispatchEvent(new Event('online'))
  await pong
  t.equal(internalsOf(app).realtimeMetrics.messagesIn.get('ping'), 1, 'one ping, from the online event')
  t.equal(c.state, 'open')

  // A closed client no longer listens.
  c.close()
  online.dispatchEvent(new Event('online'))
  t.equal(c.state, 'closed')
})
