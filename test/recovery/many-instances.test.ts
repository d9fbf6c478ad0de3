/**
 * Contract section 8 across instances (section 7): the history is a Redis
 * stream on a real redis-server, so a connection dropped on one instance
 * resumes on another; an instance whose connection to Redis dropped reads on
 * from where it stopped; and a Redis restarted empty is another history.
 * Membership is read from channel_members in MongoDB (FerretDB).
 */
import t from 'tap'
import { eventually, ids, type BuiltApp } from '../helper.js'
import { cluster } from '../redis/instances.js'
import { addMembers, removeMember } from '../fixtures/roomler2.js'
import { adminClient, clientIdByName } from '../faults/instance-tools.js'
import { applicationEvents, isApplication, note, offsets, resume, until, pumpEvents } from './tools.js'
import { internalsOf } from '../../plugins/internals.js'

const UNLIMITED = { rateLimitPerSec: 100_000, rateLimitBurst: 100_000 }

const ready = (node: BuiltApp) => eventually(async () => (await fetch(`${node.url}/ready`)).status === 200, 10_000, `${node.url} ready`)

t.test('dropped on one instance, resumed on another: exactly the missed events, in order, then live', async (t) => {
  const { db, nodes } = await cluster(t, 2, UNLIMITED)
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const [alice, bob, watcher, general, later, left] = ids()
  await addMembers(db, general, [alice, bob])
  await addMembers(db, later, [bob])
  await addMembers(db, left, [alice, bob])
  const a = await A.connect(alice)
  // Sees every event for everyone, on B: proves an instance's events are in the stream before the next instance publishes.
  const w = await B.connect(watcher)
  A.app.wsDispatcher.sendToUser(alice, note('before'))
  const since = ((await until(a, 'before')) as { offset?: string }).offset!
  await a.kill()

  const dA = A.app.wsDispatcher
  dA.sendToUser(alice, note('to alice'))
  dA.sendToUser(bob, note('to bob'))
  dA.broadcast([bob, alice], note('to two'))
  dA.broadcast([alice, bob], note('alice excluded'), { exclude: [alice] })
  await dA.sendToChannel(general, note('in general'))
  await dA.sendToChannel(later, note('before alice joined later'))
  await dA.sendToChannel(left, note('before alice left'))
  dA.toEveryone(note('from A done'))
  await until(w, 'from A done')
  const dB = B.app.wsDispatcher
  dB.toEveryone(note('everyone, from B'))
  dB.toEveryone(note('everyone but alice, from B'), { exclude: [alice] })
  await addMembers(db, later, [alice])
  await removeMember(db, left, alice)
  dB.dropChannel(later)
  dB.dropChannel(left)
  await dB.sendToChannel(later, note('after alice joined later'))

  const { client, connected } = await resume(t, B, alice, since)
  t.same(connected.data, { user_id: alice, offset: since, recovered: true }, 'recovered on the other instance')
  dA.sendToUser(alice, note('live from A'))
  await until(client, 'live from A')
  t.same(
    applicationEvents(client),
    ['to alice', 'to two', 'in general', 'before alice left', 'from A done', 'everyone, from B', 'after alice joined later', 'live from A'],
    'what alice would have received (a channel she has left since too), in the order of the history, then live',
  )
  const got = offsets(client)
  t.equal(new Set(got).size, got.length, 'distinct offsets, each event once')
})

t.test('events published on another instance while a resume is read: each once, in order', async (t) => {
  const { nodes } = await cluster(t, 2, UNLIMITED)
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const [alice] = ids()
  const a = await A.connect(alice)
  const since = a.received[0]!.data.offset as string
  await a.close()
  let n = 0
  const published: string[] = []
  const publishOne = () => {
    const text = `e${n++}`
    published.push(text)
    A.app.wsDispatcher.sendToUser(alice, note(text))
  }
  for (let i = 0; i < 100; i++) publishOne()
  const stopPublishing = pumpEvents(publishOne)
  const { client, connected } = await resume(t, B, alice, since)
  t.equal(connected.data.recovered, true)
  await until(client, 'e150')
  stopPublishing()
  A.app.wsDispatcher.sendToUser(alice, note('end'))
  published.push('end')
  await until(client, 'end')
  t.same(applicationEvents(client), published, `all ${published.length} events, each once, in order`)
})

t.test('an instance whose connection to Redis dropped reads on from where it stopped: nothing is lost', async (t) => {
  const { redis, nodes } = await cluster(t, 2, UNLIMITED)
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const [alice] = ids()
  const b = await B.connect(alice)
  const admin = adminClient(redis.url)
  t.teardown(() => admin.disconnect())
  const published: string[] = []
  for (let round = 0; round < 3; round++) {
    // The reader is back (and named) before it is killed again.
    const reader = await eventually(() => clientIdByName(admin, `roomler-rt-read:${internalsOf(B.app).realtimeCluster.instanceId}`).catch(() => undefined))
    await admin.client('KILL', 'ID', reader!)
    for (let i = 0; i < 20; i++) {
      const text = `r${round}-${i}`
      published.push(text)
      A.app.wsDispatcher.sendToUser(alice, note(text))
    }
  }
  await until(b, published.at(-1)!)
  t.same(applicationEvents(b), published, 'every event published while the reader reconnected, once, in order')
})

t.test('an append Redis answers too late is delivered once: at once on its instance, from the stream on the others', async (t) => {
  const { redis, nodes } = await cluster(t, 2, UNLIMITED)
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const [alice] = ids()
  const onA = await A.connect(alice)
  const onB = await B.connect(alice)
  const admin = adminClient(redis.url)
  t.teardown(() => admin.disconnect())
  // Writes (the append's script among them) wait longer than the instance waits for an answer.
  await admin.call('CLIENT', 'PAUSE', '1500', 'WRITE')
  A.app.wsDispatcher.sendToUser(alice, note('late'))
  await until(onA, 'late')
  await until(onB, 'late')
  A.app.wsDispatcher.sendToUser(alice, note('after'))
  await until(onA, 'after')
  await until(onB, 'after')
  t.same(applicationEvents(onA), ['late', 'after'], 'on the publishing instance: once')
  t.same(applicationEvents(onB), ['late', 'after'], 'on the other: once')
})

t.test('a Redis restarted empty is another history: recovered: false, then recovery works again', async (t) => {
  const { redis, nodes } = await cluster(t, 2, UNLIMITED)
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const [alice] = ids()
  const a = await A.connect(alice)
  A.app.wsDispatcher.sendToUser(alice, note('before restart'))
  const since = ((await until(a, 'before restart')) as { offset?: string }).offset!
  await a.kill()
  A.app.wsDispatcher.sendToUser(alice, note('missed before restart'))
  await redis.stop()
  await redis.start()
  await Promise.all([ready(A), ready(B)])
  A.app.wsDispatcher.sendToUser(alice, note('after restart'))

  const first = await resume(t, B, alice, since)
  t.equal(first.connected.data.recovered, false, 'the history before the restart is gone: the client refetches')
  t.not(first.connected.data.offset, since, 'and goes on from the new end')
  A.app.wsDispatcher.sendToUser(alice, note('live'))
  await until(first.client, 'live')
  t.notOk(applicationEvents(first.client).includes('missed before restart'), 'nothing from before the restart')
  const lastSeen = offsets(first.client).at(-1)!
  await first.client.kill()

  A.app.wsDispatcher.sendToUser(alice, note('missed after restart'))
  const second = await resume(t, A, alice, lastSeen)
  t.equal(second.connected.data.recovered, true, 'an offset of the new history recovers')
  B.app.wsDispatcher.sendToUser(alice, note('live 2'))
  await until(second.client, 'live 2')
  t.same(applicationEvents(second.client), ['missed after restart', 'live 2'])
})

t.test('across instances, a resume beyond RECOVERY_EVENTS or from a bad offset gets recovered: false', async (t) => {
  const { nodes } = await cluster(t, 2, { ...UNLIMITED, recoveryEvents: 5 })
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const [alice] = ids()
  const a = await A.connect(alice)
  const since = a.received[0]!.data.offset as string
  await a.close()
  for (let i = 0; i < 8; i++) A.app.wsDispatcher.sendToUser(alice, note(`n${i}`))
  const w = await A.connect(alice)
  await until(w, 'n7').catch(() => {})
  for (const [name, offset] of [['beyond RECOVERY_EVENTS', since], ['garbage', 'nope'], ['future', since.replace(/-\d+-\d+$/, `-${Date.now() + 60_000}-0`)]] as const) {
    const { client, connected } = await resume(t, B, alice, offset)
    t.equal(connected.data.recovered, false, `${name}: recovered: false`)
    t.same((await client.sync()).filter(isApplication), [], `${name}: nothing replayed`)
  }
})
