/**
 * Contract section 7 (many instances), black box: delivery. `ping` is
 * answered on its own connection only; the embedding dispatcher on one
 * instance reaches exactly the right connections on every instance, once
 * each; and the latency of an event across instances, measured.
 *
 * Run with `npx tsx test/run.ts test/redis/delivery-across-instances.test.ts` (needs MongoDB/FerretDB); the
 * instances and the checks are in test/redis/instances.ts.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { WAIT_MS, eventually, ids, objectId, withoutOffset, type ServerMessage, type TestClient } from '../helper.js'
import { addMembers, seedUsers } from '../fixtures/roomler2.js'
import { isTyping, isTypingBy, type TypingType } from '../fixtures/messages.js'
import { recordFigures } from '../reliability/record.js'
import { cluster, settle } from './instances.js'

t.test('ping is answered on the connection that sent it, on no other connection on any instance', async (t) => {
  const {
    db,
    nodes: [A, B],
  } = await cluster(t, 2)
  const [ada, bob] = ids()
  await seedUsers(db, [ada, bob])
  const adaA = await A!.connect(ada)
  const adaB = await B!.connect(ada)
  const bobB = await B!.connect(bob)
  const bobA = await A!.connect(bob)

  for (let i = 0; i < 3; i++) {
    adaA.send({ type: 'ping' })
    t.same(await adaA.next('pong'), { type: 'pong', data: {} }, `pong ${i + 1}`)
  }
  // Something from A after the pings, to ada's connection on B: any pong sent there would have come first.
  A!.app.wsDispatcher.sendToUser(ada, { type: 'test:after-pings', data: {} })
  await adaB.next('test:after-pings')
  await bobA.sync()
  await bobB.sync()
  await adaB.sync()
  const pongs = (client: TestClient) => client.received.filter((m) => m.type === 'pong').length
  t.equal(pongs(adaA), 3, 'ada on A: a pong for each of its pings')
  t.equal(pongs(adaB), 1, 'ada on B: only the pong for its own ping')
  t.equal(pongs(bobA), 1, 'bob on A: only its own')
  t.equal(pongs(bobB), 1, 'bob on B: only its own')
})

t.test('the dispatcher on one instance reaches exactly the right connections on every instance, once each', async (t) => {
  const {
    db,
    nodes: [A, B, C],
  } = await cluster(t, 3)
  const channel = objectId()
  const [u1, u2, u3, u4, u5, u6] = ids()
  await seedUsers(db, [u1, u2, u3, u4, u5, u6])
  await addMembers(db, channel, [u1, u3, u4, u6]) // u6 is a member who is not connected
  const conns: Record<string, TestClient> = {
    'u1 on B': await B!.connect(u1),
    'u1 on C': await C!.connect(u1),
    'u2 on C': await C!.connect(u2),
    'u3 on B': await B!.connect(u3),
    'u4 on A': await A!.connect(u4),
    'u5 on A': await A!.connect(u5),
    'u5 on C': await C!.connect(u5),
  }
  const event = (type: string) => ({ type, data: { type_again: type, nested: { n: 1 } } })

  A!.app.wsDispatcher.sendToUser(u1, event('app:to-user'))
  A!.app.wsDispatcher.broadcast([u1, u2, u3, u6], event('app:broadcast'), { exclude: [u3] })
  A!.app.wsDispatcher.toEveryone(event('app:everyone'), { exclude: [u2] })
  await A!.app.wsDispatcher.sendToChannel(channel, event('app:channel'), { exclude: [u4] })
  B!.app.wsDispatcher.sendToUser(u4, event('app:from-b'))
  C!.app.wsDispatcher.broadcast([u5], event('app:from-c'))

  const expected: Record<string, string[]> = {
    'u1 on B': ['app:to-user', 'app:broadcast', 'app:everyone', 'app:channel'],
    'u1 on C': ['app:to-user', 'app:broadcast', 'app:everyone', 'app:channel'],
    'u2 on C': ['app:broadcast'],
    'u3 on B': ['app:everyone', 'app:channel'],
    'u4 on A': ['app:everyone', 'app:from-b'],
    'u5 on A': ['app:everyone', 'app:from-c'],
    'u5 on C': ['app:everyone', 'app:from-c'],
  }
  const appEvents = (client: TestClient) => client.received.filter((m) => m.type.startsWith('app:'))
  /** Waits (all together, at most WAIT_MS) until every connection holds these types; the comparison below says what is missing. */
  async function receipts(types: (name: string) => string[]) {
    const deadline = Date.now() + WAIT_MS
    for (const [name, client] of Object.entries(conns)) {
      const has = () => types(name).every((type) => appEvents(client).some((m) => m.type === type))
      await eventually(has, Math.max(0, deadline - Date.now()), `${name} receives ${types(name).join(', ')}`).catch(() => {})
    }
  }
  await receipts((name) => expected[name]!)
  // One last event from each instance to everyone: the ones before it have had their chance to arrive twice.
  A!.app.wsDispatcher.toEveryone(event('app:end-a'))
  B!.app.wsDispatcher.toEveryone(event('app:end-b'))
  C!.app.wsDispatcher.toEveryone(event('app:end-c'))
  await receipts(() => ['app:end-a', 'app:end-b', 'app:end-c'])
  await settle(conns)
  for (const [name, client] of Object.entries(conns)) {
    const want = [...expected[name]!, 'app:end-a', 'app:end-b', 'app:end-c'].map(event)
    const byType = (a: ServerMessage, b: ServerMessage) => a.type.localeCompare(b.type)
    t.same(appEvents(client).map(withoutOffset).sort(byType), want.sort(byType), `${name}: exactly its events, once each`)
  }
})

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return Math.round(sorted[index]! * 100) / 100
}

t.test('cross-instance latency, measured (not asserted): typing from A to a member on B, beside one on A', async (t) => {
  const EVENTS = 200
  const WARM_UP = 20
  const {
    db,
    nodes: [A, B],
  } = await cluster(t, 2, { rateLimitPerSec: 10_000, rateLimitBurst: 10_000 })
  const channel = objectId()
  const [ada, grace, linus] = ids()
  await seedUsers(db, [ada, grace, linus])
  await addMembers(db, channel, [ada, grace, linus])
  const adaA = await A!.connect(ada)
  const graceB = await B!.connect(grace)
  const linusA = await A!.connect(linus)

  const remote: number[] = []
  const local: number[] = []
  for (let i = 0; i < WARM_UP + EVENTS; i++) {
    const type: TypingType = i % 2 === 0 ? 'typing:start' : 'typing:stop'
    const sentAt = performance.now()
    adaA.send({ type, data: { channel_id: channel } })
    const [remoteMs, localMs] = await Promise.all([
      graceB.next(isTyping(type, channel, ada)).then(() => performance.now() - sentAt),
      linusA.next(isTyping(type, channel, ada)).then(() => performance.now() - sentAt),
    ])
    if (i >= WARM_UP) {
      remote.push(remoteMs)
      local.push(localMs)
    }
  }
  await settle({ graceB, linusA })
  t.equal(graceB.received.filter(isTypingBy(ada)).length, WARM_UP + EVENTS, 'the member on B got every event once')
  t.equal(linusA.received.filter(isTypingBy(ada)).length, WARM_UP + EVENTS, 'the member on A got every event once')

  remote.sort((a, b) => a - b)
  local.sort((a, b) => a - b)
  const figures = {
    instances: 2,
    events: EVENTS,
    cross_instance_p50_ms: percentile(remote, 50),
    cross_instance_p99_ms: percentile(remote, 99),
    cross_instance_max_ms: percentile(remote, 100),
    same_instance_p50_ms: percentile(local, 50),
    same_instance_p99_ms: percentile(local, 99),
  }
  t.comment(JSON.stringify(figures))
  if (!t.passing()) return t.comment('figures not recorded: the test failed')
  recordFigures('cluster-latency', {
    tried: `${EVENTS} typing events (after ${WARM_UP} to warm up), one at a time, from a user on instance A to a channel member on instance B and one on A; two instances, one local redis-server, loopback`,
    held: 'every event reached both members once, in order',
    figures,
  })
})
