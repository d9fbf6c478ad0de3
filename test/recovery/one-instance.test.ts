/**
 * Contract section 8, missed events, on one instance (the history in
 * process): offsets, a resume that replays exactly what the user would have
 * received, the live race, and every way a resume cannot recover.
 */
import t from 'tap'
import { WebSocket } from 'ws'
import { build, eventually, GatedPresenceStore, ids, TestClient, type BuiltApp } from '../helper.js'
import { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { MAX_HELD_FOR_RESUME } from '../../lib/connections/connection.js'
import { applicationEvents, isApplication, note, offsets, resume, until, pumpEvents } from './tools.js'
import { internalsOf } from '../../plugins/internals.js'

const UNLIMITED = { rateLimitPerSec: 100_000, rateLimitBurst: 100_000 }

function members(app: BuiltApp): MemoryMembershipStore {
  return internalsOf(app.app).realtimeStores.membership as MemoryMembershipStore
}

t.test('every application event carries its own offset; connected carries the end of the history', async (t) => {
  const app = await build(t, { realtime: UNLIMITED })
  const [alice] = ids()
  const first = await app.connect(alice)
  const start = first.received[0]!.data.offset as string
  t.type(start, 'string', 'connected carries an offset before any event')
  for (let i = 0; i < 5; i++) app.app.wsDispatcher.sendToUser(alice, note(`n${i}`))
  await until(first, 'n4')
  const seen = offsets(first)
  t.equal(seen.length, 5)
  t.equal(new Set([...seen, start]).size, 6, 'distinct offsets, none equal to the start')
  const second = await app.connect(alice)
  t.equal(second.received[0]!.data.offset, seen[4], 'a new connection starts at the last event')
  t.notOk('recovered' in second.received[0]!.data, 'recovered only on a resume')
  // Typing and presence are not application events: they carry no offset.
  t.ok(first.received.filter((m) => !isApplication(m)).every((m) => !('offset' in m)), 'protocol messages carry no offset')
})

t.test('a resume replays exactly what the user would have received, in order, once, then the live events', async (t) => {
  const app = await build(t, { realtime: UNLIMITED })
  const [alice, bob, carol, general, later, left] = ids()
  const store = members(app)
  for (const channel of [general, left]) store.addMember(channel, alice)
  for (const channel of [general, later, left]) store.addMember(channel, bob)
  const d = app.app.wsDispatcher
  const a = await app.connect(alice)
  d.sendToUser(alice, note('before'))
  const since = (await until(a, 'before') as { offset?: string }).offset!
  await a.close()

  d.sendToUser(alice, note('to alice'))
  d.sendToUser(bob, note('to bob'))
  d.broadcast([bob, alice, carol], note('to three'))
  d.broadcast([alice, bob], note('alice excluded'), { exclude: [alice] })
  d.toEveryone(note('to everyone'))
  d.toEveryone(note('everyone but alice'), { exclude: [alice] })
  await d.sendToChannel(general, note('in general'))
  await d.sendToChannel(general, note('general without alice'), { exclude: [alice] })
  await d.sendToChannel(later, note('before alice joined later'))
  await d.sendToChannel(left, note('before alice left'))
  store.addMember(later, alice)
  store.removeMember(left, alice)
  d.dropChannel(later)
  d.dropChannel(left)
  await d.sendToChannel(later, note('after alice joined later'))

  const { client, connected } = await resume(t, app, alice, since)
  t.same(connected.data, { user_id: alice, offset: since, recovered: true }, 'connected: recovered, at since itself')
  d.sendToUser(alice, note('live'))
  await until(client, 'live')
  t.same(
    applicationEvents(client),
    ['to alice', 'to three', 'to everyone', 'in general', 'before alice left', 'after alice joined later', 'live'],
    'the missed events alice was addressed by (a channel she has left since too: she was a member when it was published; not one she joined after), then the live one',
  )
  const got = offsets(client)
  t.equal(new Set(got).size, got.length, 'each once')
  const own = client.received.findIndex((m) => m.type === 'presence:update' && m.data.user_id === alice)
  t.ok(own > 0 && own < client.received.findIndex(isApplication), 'connected, then the own presence, then the replay')

  // Resuming from a replayed event's offset replays only what came after it.
  const again = await resume(t, app, alice, got[3]!)
  d.sendToUser(alice, note('live 2'))
  await until(again.client, 'live 2')
  t.same(applicationEvents(again.client), ['before alice left', 'after alice joined later', 'live', 'live 2'], 'from the middle of a replay')
})

t.test('events published while a resume is being read are delivered once, after the replay, in order', async (t) => {
  const app = await build(t, { realtime: UNLIMITED })
  const [alice] = ids()
  const d = app.app.wsDispatcher
  const a = await app.connect(alice)
  const since = a.received[0]!.data.offset as string
  await a.close()
  let n = 0
  const published: string[] = []
  const publishOne = () => {
    const text = `e${n++}`
    published.push(text)
    d.sendToUser(alice, note(text))
  }
  for (let i = 0; i < 50; i++) publishOne()
  // Publish on every turn of the event loop while the resume opens, is settled and replayed.
  const stopPublishing = pumpEvents(publishOne)
  const { client, connected } = await resume(t, app, alice, since)
  t.equal(connected.data.recovered, true)
  await until(client, 'e60')
  stopPublishing()
  d.sendToUser(alice, note('end'))
  published.push('end')
  await until(client, 'end')
  t.same(applicationEvents(client), published, `all ${published.length} events, each once, in order`)
})

t.test('a resume the history no longer reaches gets recovered: false and no replay', async (t) => {
  const app = await build(t, { realtime: { ...UNLIMITED, recoveryEvents: 3, recoveryWindowMs: 60_000 } })
  const [alice, bob] = ids()
  const d = app.app.wsDispatcher
  const a = await app.connect(alice)
  const since = a.received[0]!.data.offset as string
  await a.close()
  for (let i = 0; i < 5; i++) d.sendToUser(alice, note(`old${i}`))
  const { client, connected } = await resume(t, app, alice, since)
  t.equal(connected.data.recovered, false, 'more than RECOVERY_EVENTS events since')
  d.sendToUser(alice, note('live'))
  await until(client, 'live')
  t.same(applicationEvents(client), ['live'], 'nothing replayed')
  t.not(connected.data.offset, since, 'connected carries the end to go on from')

  // Within the count: recovered.
  const b = await app.connect(bob)
  const bobSince = b.received[0]!.data.offset as string
  await b.close()
  d.sendToUser(bob, note('one'))
  d.sendToUser(bob, note('two'))
  const back = await resume(t, app, bob, bobSince)
  t.equal(back.connected.data.recovered, true, 'within RECOVERY_EVENTS')
  await until(back.client, 'two')
})

t.test('a resume older than RECOVERY_WINDOW_MS gets recovered: false', async (t) => {
  const windowMs = 200
  const app = await build(t, { realtime: { ...UNLIMITED, recoveryWindowMs: windowMs } })
  const [alice] = ids()
  const d = app.app.wsDispatcher
  const a = await app.connect(alice)
  d.sendToUser(alice, note('first'))
  const since = (await until(a, 'first') as { offset?: string }).offset!
  await a.close()
  d.sendToUser(alice, note('missed'))
  // The window is a duration: let it pass.
  await new Promise((resolve) => setTimeout(resolve, windowMs + 50))
  const { client, connected } = await resume(t, app, alice, since)
  t.equal(connected.data.recovered, false)
  t.same((await client.sync()).filter(isApplication), [], 'nothing replayed')
})

t.test('after a restart, an offset of the previous process is of another history: recovered: false', async (t) => {
  const [alice] = ids()
  const before = await build(t, { realtime: UNLIMITED })
  const a = await before.connect(alice)
  before.app.wsDispatcher.sendToUser(alice, note('before restart'))
  const since = (await until(a, 'before restart') as { offset?: string }).offset!
  await before.app.close()
  const after = await build(t, { realtime: UNLIMITED })
  after.app.wsDispatcher.sendToUser(alice, note('after restart'))
  const { client, connected } = await resume(t, after, alice, since)
  t.equal(connected.data.recovered, false)
  t.same((await client.sync()).filter(isApplication), [], 'nothing replayed')
})

t.test('a since this service never gave gets recovered: false, and the connection works', async (t) => {
  const app = await build(t, { realtime: UNLIMITED })
  const [alice] = ids()
  const a = await app.connect(alice)
  const end = a.received[0]!.data.offset as string
  const [epoch] = end.split('-')
  const cases: Array<[string, string]> = [
    ['garbage', 'since=garbage'],
    ['empty', 'since='],
    ['given twice', `since=${encodeURIComponent(end)}&since=${encodeURIComponent(end)}`],
    ['from the future', `since=${epoch}-${Date.now() + 60_000}-999999`],
    ['a sequence never given', `since=${epoch}-${Date.now()}-999999`],
    ['huge numbers', `since=${epoch}-99999999999999999999-1`],
    ['very long', `since=${'9'.repeat(4000)}`],
    ['unicode', `since=${encodeURIComponent('ü-1-1')}`],
  ]
  for (const [name, query] of cases) {
    const { client, connected } = await resume(t, app, alice, query, true)
    t.equal(connected.data.recovered, false, `${name}: recovered: false`)
    t.type(connected.data.offset, 'string', `${name}: with the end to go on from`)
    t.same((await client.sync()).filter(isApplication), [], `${name}: nothing replayed, the connection answers`)
    await client.close()
  }
  app.app.wsDispatcher.sendToUser(alice, note('still works'))
  await until(a, 'still works')
  const metrics = await (await fetch(`${app.url}/metrics`)).text()
  t.match(metrics, new RegExp(`roomler_resumes_total\\{result="not_recovered"\\} ${cases.length}\n`), '/metrics counts the resumes not recovered')
})

t.test('typing and presence are not replayed', async (t) => {
  const app = await build(t, { realtime: UNLIMITED })
  const [alice, bob, general] = ids()
  members(app).addMember(general, alice)
  members(app).addMember(general, bob)
  const a = await app.connect(alice)
  const since = a.received[0]!.data.offset as string
  await a.close()
  const b = await app.connect(bob)
  b.send({ type: 'typing:start', data: { channel_id: general } })
  b.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await b.next((m) => m.type === 'presence:update' && m.data.presence === 'dnd')
  await b.sync()
  app.app.wsDispatcher.sendToUser(alice, note('marker'))
  const { client, connected } = await resume(t, app, alice, since)
  t.equal(connected.data.recovered, true)
  await until(client, 'marker')
  const replayed = client.received.slice(0, client.received.findIndex((m) => m.data.text === 'marker'))
  t.notOk(replayed.some((m) => m.type.startsWith('typing:')), 'no typing replayed')
  t.notOk(replayed.some((m) => m.type === 'presence:update' && m.data.user_id === bob && m.data.presence !== 'dnd'), 'no past presence of bob replayed')
})

t.test('a resume holding more live events than MAX_HELD_FOR_RESUME while it waits closes with 1013, to resume again', async (t) => {
  const presence = new GatedPresenceStore()
  const app = await build(t, { realtime: UNLIMITED, stores: { presence, membership: new MemoryMembershipStore() } })
  t.teardown(() => presence.release())
  const [alice] = ids()
  const since = internalsOf(app.app).realtimeCluster.history.end()
  const socket = new WebSocket(`${app.wsUrl}?token=${app.token(alice)}&since=${since}`)
  const client = new TestClient(socket)
  t.teardown(() => socket.terminate())
  // Registered, and waiting on its presence: live events are held.
  await eventually(() => app.app.wsRegistry.senders(alice).size === 1)
  for (let i = 0; i <= MAX_HELD_FOR_RESUME; i++) app.app.wsDispatcher.sendToUser(alice, note(`e${i}`))
  t.equal((await client.closed).code, 1013, 'closed: try again later')
})
