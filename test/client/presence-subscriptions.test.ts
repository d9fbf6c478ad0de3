/**
 * Presence subscriptions in the typed client (issue 15, contract section 5,
 * "Presence scope"), against a live service with PRESENCE_SCOPE=subscribed:
 * `subscribePresence` fills a PresenceMap from `presence:state` and then
 * from `presence:update`; after a server-side drop the client subscribes
 * again by itself; `unsubscribePresence` stops the updates; more than 200
 * ids go out in messages of 200.
 */
import t from 'tap'
import { PresenceMap, type FetchLike } from '../../client/index.js'
import { build, eventually, ids, signToken } from '../helper.js'
import { isPresence } from '../fixtures/messages.js'
import { internalsOf } from '../../plugins/internals.js'
import { subscribe } from '../presence/scope-tools.js'
import { nextMessage, nextState, recordedClient, stateIs } from './tools.js'

/** Long for a loaded machine: every wait below is on something that must happen. */
const WAIT = 10_000
const SUBSCRIBED = { realtime: { presenceScope: 'subscribed' as const } }
/** Never by itself within a test: the test reconnects the client when it wants to. */
const NOT_BY_ITSELF = { initialDelayMs: 600_000, maxDelayMs: 600_000 }

t.test('subscribed: the map fills from presence:state, follows updates, survives a drop, and unsubscribe stops it', async (t) => {
  const { app, wsUrl, connect } = await build(t, SUBSCRIBED)
  const [alice, bob, carol] = ids()
  // What the map asks GET /presence for: the renewed subscription answers for bob, so never him.
  const asked: string[] = []
  const fetchCounted: FetchLike = (url, init) => {
    asked.push(new URL(url).searchParams.get('user_ids') ?? '')
    return fetch(url, init)
  }
  const { c, messages } = recordedClient(t, { url: wsUrl, token: signToken({ sub: alice }), reconnect: NOT_BY_ITSELF, fetch: fetchCounted })
  const map = new PresenceMap(c)
  t.teardown(() => map.dispose())

  // Asked before the connection is open: sent once it is.
  c.subscribePresence([bob])
  const state = nextMessage(c, 'presence:state', () => true, WAIT)
  c.connect()
  t.same((await state).data.presences, { [bob]: 'offline' }, 'the subscribe was answered with presence:state')
  t.equal(map.get(bob), 'offline', 'the map holds it')
  t.same([...c.presenceSubscriptions], [bob])

  const b = await connect(bob)
  await eventually(() => map.get(bob) === 'online', WAIT, 'bob online in the map')

  // Dropped by the server; bob changes while alice is away.
  const away = nextState(c, stateIs('reconnecting'), 'dropped', WAIT)
  for (const connection of app.wsRegistry.senders(alice)) connection.socket.terminate()
  await away
  b.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await b.next(isPresence(bob, 'dnd'))
  const renewed = nextMessage(c, 'presence:state', () => true, WAIT)
  c.reconnect()
  t.same((await renewed).data.presences, { [bob]: 'dnd' }, 'subscribed again by itself on the new connection: the change made meanwhile')
  t.equal(map.get(bob), 'dnd')
  t.notOk(asked.some((userIds) => userIds.includes(bob)), 'no GET /presence for a subscribed user after the reconnect')
  b.send({ type: 'presence:update', data: { presence: 'idle' } })
  await eventually(() => map.get(bob) === 'idle', WAIT, 'a live change on the new connection reaches the map')

  // Unsubscribed: carol, subscribed, hears the next change; alice is told nothing of it.
  c.unsubscribePresence([bob])
  t.same([...c.presenceSubscriptions], [])
  const watcher = await connect(carol)
  await subscribe(watcher, [bob])
  await c.ping() // the unsubscribe was handled before the change below
  b.send({ type: 'presence:update', data: { presence: 'online' } })
  await watcher.next(isPresence(bob, 'online'))
  await c.ping()
  t.same(
    messages.filter((m) => m.type === 'presence:update' && m.data.user_id === bob).map((m) => m.data.presence),
    ['online', 'idle'],
    'alice heard bob come online and go idle, and nothing after she unsubscribed',
  )
  t.equal(map.get(bob), 'idle', 'the map keeps the last state it was told')

  // A later reconnect does not subscribe to bob again.
  const reopened = nextState(c, stateIs('open'), 'open again', WAIT)
  const before = internalsOf(app).realtimeMetrics.messagesIn.get('presence:subscribe')
  c.reconnect()
  await reopened
  await c.ping()
  t.equal(internalsOf(app).realtimeMetrics.messagesIn.get('presence:subscribe'), before, 'nothing to renew: no presence:subscribe')
})

t.test('more than 200 users: subscribe and unsubscribe go out in messages of at most 200', async (t) => {
  const { app, wsUrl } = await build(t, SUBSCRIBED)
  const [alice] = ids()
  const many = Array.from({ length: 450 }, (_, i) => i.toString(16).padStart(24, '0'))
  const { c } = recordedClient(t, { url: wsUrl, token: signToken({ sub: alice }) })
  const map = new PresenceMap(c)
  t.teardown(() => map.dispose())
  await c.connect().ready()
  c.subscribePresence(many)
  c.subscribePresence(many.slice(0, 10)) // already followed: nothing sent
  await eventually(() => many.every((id) => map.get(id) === 'offline'), WAIT, 'every user in the map, offline')
  const counts = internalsOf(app).realtimeMetrics.messagesIn
  t.equal(counts.get('presence:subscribe'), 3, '450 ids: three messages')
  c.unsubscribePresence(many)
  await c.ping()
  t.equal(counts.get('presence:unsubscribe'), 3, 'three unsubscribes')
  t.equal(c.presenceSubscriptions.size, 0)
})
