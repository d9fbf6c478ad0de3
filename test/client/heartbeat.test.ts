/**
 * Dead-link detection (issue 12): a server that stops answering is noticed
 * by the client's heartbeat, which drops the link and reconnects, instead of
 * showing `open` forever. The fault is real: the standalone server, a child
 * process, is stopped with SIGSTOP (its TCP connections stay established and
 * the kernel still accepts new ones, but nothing is answered), then resumed
 * with SIGCONT. And a healthy quiet link is pinged and stays open.
 */
import t from 'tap'
import { build, objectId, signToken, SECRET, ISSUER, eventually, WAIT_MS } from '../helper.js'
import { spawnStandalone } from '../servers/standalone.js'
import { allThreadsStopped } from '../faults/tools.js'
import { nextState, recordedClient, stateIs } from './tools.js'
import { internalsOf } from '../../plugins/internals.js'

const heartbeat = { idleMs: 300, timeoutMs: 300 }

t.test('a server stopped dead: the client notices within the heartbeat, reconnects, and is open again once the server resumes', async (t) => {
  const server = await spawnStandalone(t, { env: { ROOMLER__JWT__SECRET: SECRET, ROOMLER__JWT__ISSUER: ISSUER } })
  await server.listening()
  const pid = server.child.pid!
  let stopped = false
  t.teardown(() => {
    if (stopped) process.kill(pid, 'SIGCONT')
  })
  const { c, states } = recordedClient(t, {
    url: server.wsUrl,
    token: signToken({ sub: objectId() }),
    heartbeat,
    connectTimeoutMs: 1000,
    reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
  })
  await c.connect().ready()
  t.ok((await c.ping()) >= 0, 'the server answers')

  const dead = nextState(c, stateIs('reconnecting'), 'to reconnecting after the server stopped')
  process.kill(pid, 'SIGSTOP')
  stopped = true
  await eventually(() => allThreadsStopped(pid), WAIT_MS, 'the server stopped')
  const change = await dead
  t.match(change.reason?.message, /link is dead/, `the heartbeat declared the link dead: ${change.reason?.message}`)
  t.equal(change.reason?.code, undefined, 'no close frame came: the client gave up on the socket itself')

  // The kernel accepts the new attempts; the stopped server never upgrades them, so each times out.
  const abandoned = await nextState(c, (s) => s.state === 'reconnecting' && /no `connected`/.test(s.reason?.message ?? ''), 'an attempt timing out', WAIT_MS + 2000)
  t.ok(abandoned.attempt! >= 2, `an unanswered attempt was abandoned, not left hanging (attempt ${abandoned.attempt} next)`)

  const open = nextState(c, stateIs('open'), 'back to open', WAIT_MS + 2000)
  process.kill(pid, 'SIGCONT')
  stopped = false
  await open
  t.ok((await c.ping()) >= 0, 'the resumed server answers the new connection')
  t.same(states.slice(0, 3).map((s) => s.state), ['connecting', 'open', 'reconnecting'])
})

t.test('a healthy quiet link is pinged after each quiet period and stays open', async (t) => {
  const { app, wsUrl } = await build(t)
  const { c, stateNames } = recordedClient(t, { url: wsUrl, token: signToken({ sub: objectId() }), heartbeat })
  await c.connect().ready()
  const pings = () => internalsOf(app).realtimeMetrics.messagesIn.get('ping')
  await eventually(() => pings() >= 3, WAIT_MS, 'three heartbeat pings')
  t.ok(pings() >= 3, `the client pinged the quiet link (${pings()} pings)`)
  t.same(stateNames(), ['connecting', 'open'], 'every ping was answered: never dropped')
})
