/**
 * Contract section 5, "Presence scope", on one instance: with
 * PRESENCE_SCOPE=subscribed a connection hears only the users it subscribed
 * to (and always its own user), a subscribe is answered at once with
 * presence:state, unsubscribe and close end subscriptions, and
 * MAX_PRESENCE_SUBSCRIPTIONS refuses a subscribe whole. With `everyone`
 * (the default) every connected user hears every change, and the two
 * messages are answered without changing that.
 */
import t from 'tap'
import { build, ids } from '../helper.js'
import { isPresence } from '../fixtures/messages.js'
import { refusedSubscribe, subscribe, told, toldNothingOf, unsubscribe } from './scope-tools.js'

const SUBSCRIBED = { realtime: { presenceScope: 'subscribed' as const, rateLimitPerSec: 1000, rateLimitBurst: 1000 } }

t.test('subscribed: only the connections that subscribed hear a user, and the user’s own connections always do', async (t) => {
  const { connect } = await build(t, SUBSCRIBED)
  const [alice, bob, carol] = ids()
  const a = await connect(alice)
  const c = await connect(carol)
  t.same(await subscribe(a, [bob]), { [bob]: 'offline' }, 'presence:state: bob is offline')

  const b = await connect(bob)
  await told(t, { alice: a }, bob, 'online', 'bob came online')
  await toldNothingOf(t, { carol: c }, bob, 'carol did not subscribe: told nothing of bob')
  await toldNothingOf(t, { bob: b }, alice, 'nor is bob told of alice, whom he did not subscribe to')

  b.send({ type: 'presence:update', data: { presence: 'dnd' } })
  t.same((await b.next(isPresence(bob))).data.presence, 'dnd', 'bob’s own connection hears his real state')
  await told(t, { alice: a }, bob, 'dnd', 'the subscriber hears bob’s change')
  await toldNothingOf(t, { carol: c }, bob, 'carol still hears nothing')

  b.send({ type: 'presence:update', data: { presence: 'invisible' } })
  t.same((await b.next(isPresence(bob))).data.presence, 'invisible', 'bob’s own connection: invisible')
  await told(t, { alice: a }, bob, 'offline', 'invisible is offline to the subscriber')
  await b.close()
  await toldNothingOf(t, { alice: a, carol: c }, bob, 'an invisible user who leaves: nothing more')

  const b2 = await connect(bob)
  t.equal((await b2.sync()).filter(isPresence(bob)).length, 0, 'bob back: his real state came right after connected')
  t.same(await subscribe(a, [bob]), { [bob]: 'offline' }, 'still invisible: presence:state says offline')
  b2.send({ type: 'presence:update', data: { presence: 'online' } })
  await told(t, { alice: a }, bob, 'online', 'bob shows himself')
  await unsubscribe(a, [bob])
  // A positive receipt of the same change elsewhere first: carol subscribes to see it.
  await subscribe(c, [bob])
  await b2.close()
  await told(t, { carol: c }, bob, 'offline', 'carol, subscribed now, hears bob leave')
  await toldNothingOf(t, { alice: a }, bob, 'unsubscribed: alice is not told')
})

t.test('subscribed: presence:state for online, idle, dnd, invisible, offline and unknown users, and the asker’s own real state', async (t) => {
  const { connect } = await build(t, SUBSCRIBED)
  const [asker, online, idle, dnd, invisible, offline, unknown] = ids()
  const clients = { online: await connect(online), idle: await connect(idle), dnd: await connect(dnd), invisible: await connect(invisible) }
  for (const presence of ['idle', 'dnd', 'invisible'] as const) {
    clients[presence].send({ type: 'presence:update', data: { presence } })
    await clients[presence].next(isPresence(presence === 'idle' ? idle : presence === 'dnd' ? dnd : invisible, presence))
  }
  const a = await connect(asker)
  a.send({ type: 'presence:update', data: { presence: 'invisible' } })
  await a.next(isPresence(asker, 'invisible'))
  // `offline` has an account and no connection; `unknown` is no user at all: the same to anyone.
  t.same(
    await subscribe(a, [online, idle, dnd, invisible, offline, unknown, asker, online]),
    { [online]: 'online', [idle]: 'idle', [dnd]: 'dnd', [invisible]: 'offline', [offline]: 'offline', [unknown]: 'offline', [asker]: 'invisible' },
    'each named user once: visible presence for others, the real one for the asker',
  )
  t.same(await subscribe(a, [online.toUpperCase()]), { [online]: 'online' }, 'an id in capitals is the same user')
})

t.test('subscribed: a closed connection’s subscriptions are gone, and the reconnected one hears only what it subscribes to again', async (t) => {
  const { connect } = await build(t, SUBSCRIBED)
  const [alice, bob, carol] = ids()
  const tab1 = await connect(alice)
  const tab2 = await connect(alice)
  const watcher = await connect(carol)
  await subscribe(tab1, [bob])
  await subscribe(watcher, [bob])
  const b = await connect(bob)
  await told(t, { tab1, watcher }, bob, 'online', 'the subscribed tab and the other watcher hear bob')
  await toldNothingOf(t, { tab2 }, bob, 'alice’s other tab did not subscribe')

  await tab1.kill()
  const reconnected = await connect(alice)
  b.send({ type: 'presence:update', data: { presence: 'idle' } })
  await told(t, { watcher }, bob, 'idle', 'the watcher hears bob go idle')
  await toldNothingOf(t, { reconnected, tab2 }, bob, 'the reconnected tab has no subscription until it subscribes again')
  t.same(await subscribe(reconnected, [bob]), { [bob]: 'idle' }, 'it subscribes again and is told bob’s state at once')
  b.send({ type: 'presence:update', data: { presence: 'online' } })
  await told(t, { watcher, reconnected }, bob, 'online', 'and hears the next change')
})

t.test('subscribed: MAX_PRESENCE_SUBSCRIPTIONS refuses a subscribe whole, naming the limit; the own id and repeats do not count', async (t) => {
  const { connect, url } = await build(t, { realtime: { ...SUBSCRIBED.realtime, maxPresenceSubscriptions: 3 } })
  const [alice, u1, u2, u3, u4, u5] = ids()
  const a = await connect(alice)
  t.same(Object.keys(await subscribe(a, [u1, u2, alice])), [u1, u2, alice], 'two others and herself: accepted')
  t.same(Object.keys(await subscribe(a, [u1, u2, u3])), [u1, u2, u3], 'repeats and one more: three, the limit')
  const refused = await refusedSubscribe(a, [u1, u4, u5])
  t.equal(refused.code, 'invalid_message', 'past the limit: invalid_message')
  t.equal(refused.request_type, 'presence:subscribe')
  t.equal(refused.details.field, '/data/user_ids')
  t.match(refused.details.reason, /MAX_PRESENCE_SUBSCRIPTIONS is 3/, `details.reason names the limit: ${refused.details.reason}`)
  t.same(Object.keys(await subscribe(a, [alice, u3])), [alice, u3], 'her own id still fits')

  // Nothing of the refused subscribe was kept: u4 comes online unseen.
  const watcher = await connect(u5)
  await subscribe(watcher, [u4])
  await connect(u4)
  await told(t, { watcher }, u4, 'online', 'u4 came online (another watcher hears it)')
  await toldNothingOf(t, { alice: a }, u4, 'the refused subscribe subscribed nothing')

  await unsubscribe(a, [u3])
  t.same(Object.keys(await subscribe(a, [u4])), [u4], 'after an unsubscribe there is room again')
  const metrics = await (await fetch(`${url}/metrics`)).text()
  t.match(metrics, /^roomler_presence_subscriptions 4$/m, 'GET /metrics: alice’s three and the watcher’s one')
})

t.test('subscribed: subscribe and unsubscribe sent back to back are handled in order', async (t) => {
  const { connect } = await build(t, SUBSCRIBED)
  const [alice, bob, carol, dave] = ids()
  const a = await connect(alice)
  const c = await connect(carol)
  const d = await connect(dave)
  // Without waiting: subscribe, unsubscribe (alice ends unsubscribed); unsubscribe, subscribe (carol ends subscribed).
  a.send({ type: 'presence:subscribe', data: { user_ids: [bob] } })
  a.send({ type: 'presence:unsubscribe', data: { user_ids: [bob] } })
  c.send({ type: 'presence:unsubscribe', data: { user_ids: [bob] } })
  c.send({ type: 'presence:subscribe', data: { user_ids: [bob] } })
  // Dave subscribes and his other subscription of the same user comes and goes around it.
  d.send({ type: 'presence:subscribe', data: { user_ids: [bob] } })
  d.send({ type: 'presence:subscribe', data: { user_ids: [bob, carol] } })
  d.send({ type: 'presence:unsubscribe', data: { user_ids: [carol] } })
  for (const client of [a, c, d]) await client.sync()
  t.equal(a.received.filter((m) => m.type === 'presence:state').length, 1, 'alice’s subscribe was answered')

  const b = await connect(bob)
  await told(t, { carol: c, dave: d }, bob, 'online', 'the last word was subscribe: told')
  await toldNothingOf(t, { alice: a }, bob, 'the last word was unsubscribe: told nothing')
  b.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await told(t, { carol: c, dave: d }, bob, 'dnd', 'and the next change')
  await toldNothingOf(t, { alice: a }, bob, 'still nothing')
  await c.close()
  b.send({ type: 'presence:update', data: { presence: 'idle' } })
  await told(t, { dave: d }, bob, 'idle', 'one watcher gone, the other still hears bob')
})

t.test('both scopes: a subscribe naming too many or bad ids is refused by its schema', async (t) => {
  for (const presenceScope of ['everyone', 'subscribed'] as const) {
    const { connect } = await build(t, { realtime: { presenceScope } })
    const [alice] = ids()
    const a = await connect(alice)
    const tooMany = await refusedSubscribe(a, Array.from({ length: 201 }, () => ids()[0]))
    t.equal(tooMany.code, 'invalid_message', `${presenceScope}: 201 ids are refused`)
    t.equal(tooMany.details.field, '/data/user_ids')
    const bad = await refusedSubscribe(a, ['bob'])
    t.equal(bad.details.field, '/data/user_ids/0', `${presenceScope}: an id that is no ObjectId is named`)
    a.send({ type: 'presence:unsubscribe', data: { user_ids: [] } })
    t.equal((await a.next('error')).data.code, 'invalid_message', `${presenceScope}: an empty unsubscribe is refused`)
  }
})

t.test('everyone (the default): every connected user hears every change; subscribe is answered with presence:state, unsubscribe changes nothing', async (t) => {
  const { app, connect } = await build(t, { realtime: { maxPresenceSubscriptions: 1 } })
  t.equal(app.realtimeConfig.realtime.presenceScope, 'everyone', 'the default scope')
  const [alice, bob, carol, dave] = ids()
  const a = await connect(alice)
  const c = await connect(carol)
  t.same(await subscribe(a, [bob, dave]), { [bob]: 'offline', [dave]: 'offline' }, 'presence:state answers; nothing is held, so the limit of 1 is not met')
  const b = await connect(bob)
  await told(t, { alice: a, carol: c }, bob, 'online', 'every connected user hears bob, subscribed or not')
  await unsubscribe(a, [bob])
  b.send({ type: 'presence:update', data: { presence: 'idle' } })
  await told(t, { alice: a, carol: c }, bob, 'idle', 'an unsubscribe changes nothing')
  t.same(await subscribe(a, [bob, alice]), { [bob]: 'idle', [alice]: 'online' }, 'presence:state: bob’s visible presence, her own real one')
})
