/**
 * Contract section 7 (many instances), black box: typing. A user's typing in
 * a channel reaches every other member's connections on every instance
 * exactly once, and nobody else; its state belongs to the cluster (the user
 * and the channel), not to the instance a message lands on, and its timeout
 * counts from the last renewal wherever that came.
 *
 * Run with `npx tsx test/run.ts test/redis/typing-across-instances.test.ts` (needs MongoDB/FerretDB); the
 * instances and the checks are in test/redis/instances.ts.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { WAIT_MS, eventually, ids, objectId, type TestClient } from '../helper.js'
import { addMembers, seedUsers } from '../fixtures/roomler2.js'
import { isAnyTyping, isTyping, isTypingBy, typing, type TypingType } from '../fixtures/messages.js'
import { cluster, delay, expectTyping, expectTypingHistory, settle } from './instances.js'

t.test('typing from one instance reaches every other member’s connections on every instance exactly once, and nobody else', async (t) => {
  const {
    db,
    nodes: [A, B, C],
  } = await cluster(t, 3)
  const channel = objectId()
  const elsewhere = objectId()
  const [ada, grace, linus, eve] = ids()
  await seedUsers(db, [ada, grace, linus, eve])
  await addMembers(db, channel, [ada, grace, linus])
  // eve shares another channel with ada: membership is per channel.
  await addMembers(db, elsewhere, [ada, eve])

  const sender = { 'ada on A': await A!.connect(ada), 'ada on B': await B!.connect(ada), 'ada on C': await C!.connect(ada) }
  const members = { 'grace on B': await B!.connect(grace), 'grace on C': await C!.connect(grace), 'linus on A': await A!.connect(linus) }
  const strangers = { 'eve on A': await A!.connect(eve), 'eve on B': await B!.connect(eve), 'eve on C': await C!.connect(eve) }
  const everyone = { ...sender, ...members, ...strangers }
  const adaA = sender['ada on A']
  const adaB = sender['ada on B']

  adaA.send({ type: 'typing:start', data: { channel_id: channel } })
  await expectTyping(t, members, 'typing:start', channel, ada, 'hears ada start typing')
  adaA.send({ type: 'typing:stop', data: { channel_id: channel } })
  await expectTyping(t, members, 'typing:stop', channel, ada, 'hears ada stop')
  await settle(everyone)
  expectTypingHistory(t, members, channel, ada, 1, 'one start, one stop')
  for (const [name, client] of Object.entries({ ...sender, ...strangers })) {
    t.same(client.received.filter(isAnyTyping), [], `${name} hears no typing at all`)
  }

  // The connection that started typing (on B this time) closes: the typing ends for everyone, on every instance.
  adaB.send({ type: 'typing:start', data: { channel_id: channel } })
  await expectTyping(t, members, 'typing:start', channel, ada, 'hears ada start again, from B')
  await adaB.close()
  await expectTyping(t, members, 'typing:stop', channel, ada, 'hears the stop the server sends when that connection closes')
  const { 'ada on B': _closed, ...open } = everyone
  await settle(open)
  expectTypingHistory(t, members, channel, ada, 2, 'each event exactly once')
  for (const [name, client] of Object.entries({ 'ada on A': adaA, 'ada on C': sender['ada on C'], ...strangers })) {
    t.same(client.received.filter(isAnyTyping), [], `${name} still hears no typing`)
  }
})

t.test('typing state belongs to the user and channel across instances: a start renewed from another instance is announced once, a stop anywhere ends it once', async (t) => {
  const {
    db,
    nodes: [A, B, C],
  } = await cluster(t, 3)
  const channel = objectId()
  const [ada, grace, linus] = ids()
  await seedUsers(db, [ada, grace, linus])
  await addMembers(db, channel, [ada, grace, linus])
  const adaA = await A!.connect(ada)
  const adaB = await B!.connect(ada)
  const watchers = { 'grace on C': await C!.connect(grace), 'linus on A': await A!.connect(linus) }
  const send = (client: TestClient, type: TypingType) => client.send({ type, data: { channel_id: channel } })
  const expectAll = (type: TypingType, what: string) => expectTyping(t, watchers, type, channel, ada, what)

  send(adaA, 'typing:start')
  await expectAll('typing:start', 'ada starts typing on A')
  // The same user starts again from B: only a renewal, not announced again.
  send(adaB, 'typing:start')
  send(adaB, 'typing:stop')
  await expectAll('typing:stop', 'a stop from B ends the typing started on A')
  await settle(watchers)
  expectTypingHistory(t, watchers, channel, ada, 1, 'the start renewed from B was not announced again; one stop')

  // Not typing anywhere now: a stop from either instance sends nothing, and a start from A is new again.
  send(adaB, 'typing:stop')
  await adaB.sync()
  send(adaA, 'typing:stop')
  await adaA.sync()
  send(adaA, 'typing:start')
  await expectAll('typing:start', 'a new start from A is announced (A knows the typing ended on B)')
  send(adaA, 'typing:stop')
  await expectAll('typing:stop', 'and its stop')
  await settle({ ...watchers, adaA, adaB })
  expectTypingHistory(t, watchers, channel, ada, 2, 'the stops for a typing that had ended were not announced')
  t.same([...adaA.received, ...adaB.received].filter(isAnyTyping), [], 'none of ada’s connections hears her own typing')
})

t.test('the typing timeout counts from the last renewal, on whichever instance it came', async (t) => {
  const TYPING_TIMEOUT_MS = 1500
  const {
    db,
    nodes: [A, B],
  } = await cluster(t, 2, { typingTimeoutMs: TYPING_TIMEOUT_MS })
  const channel = objectId()
  const [ada, grace] = ids()
  await seedUsers(db, [ada, grace])
  await addMembers(db, channel, [ada, grace])
  const adaA = await A!.connect(ada)
  const adaB = await B!.connect(ada)
  const watchers = { 'grace on A': await A!.connect(grace), 'grace on B': await B!.connect(grace) }

  adaA.send({ type: 'typing:start', data: { channel_id: channel } })
  await expectTyping(t, watchers, 'typing:start', channel, ada, 'hears the start from A')
  // Deliberately half the timeout later (the scenario, not a wait for something): the renewal comes from B.
  await delay(TYPING_TIMEOUT_MS / 2)
  const renewedAt = performance.now()
  adaB.send({ type: 'typing:start', data: { channel_id: channel } })
  for (const [name, client] of Object.entries(watchers)) {
    t.same(
      await client.next(isTyping('typing:stop', channel, ada), TYPING_TIMEOUT_MS + WAIT_MS),
      typing('typing:stop', channel, ada),
      `${name}: the server ends the typing itself`,
    )
    const after = performance.now() - renewedAt
    t.ok(after >= TYPING_TIMEOUT_MS - 50, `${name}: not before the timeout counted from the renewal on B (${Math.round(after)} ms after it)`)
  }

  // Ended once, cluster-wide: a new start from B is announced, and its stop, and nothing else came in between.
  adaB.send({ type: 'typing:start', data: { channel_id: channel } })
  for (const client of Object.values(watchers)) await client.next(isTyping('typing:start', channel, ada))
  adaB.send({ type: 'typing:stop', data: { channel_id: channel } })
  for (const client of Object.values(watchers)) await client.next(isTyping('typing:stop', channel, ada))
  await settle(watchers)
  expectTypingHistory(t, watchers, channel, ada, 2, 'one timeout stop, not one per instance')
})

t.test('typing is limited per user across instances: connections on two instances together get TYPING_RATE_PER_SEC, not that rate on each', async (t) => {
  const RATE = 5
  const FRAMES = 4 * RATE
  const {
    db,
    nodes: [A, B],
  } = await cluster(t, 2, { typingRatePerSec: RATE })
  const channel = objectId()
  const [ada, grace] = ids()
  await seedUsers(db, [ada, grace])
  await addMembers(db, channel, [ada, grace])
  const adaA = await A!.connect(ada)
  const adaB = await B!.connect(ada)
  const adaOn = [adaA, adaB]
  const graceB = await B!.connect(grace)
  const refusals = () => adaOn.flatMap((client) => client.received.filter((m) => m.type === 'error'))
  const heard = () => graceB.received.filter(isTypingBy(ada))

  // One frame at a time, alternating instances, each a start when ada is not typing and a stop when she is:
  // so every frame has an outcome someone sees, a refusal to ada or an event to grace.
  const startedAt = performance.now()
  for (let i = 0; i < FRAMES; i++) {
    const type: TypingType = heard().length % 2 === 1 ? 'typing:stop' : 'typing:start'
    const before = refusals().length + heard().length
    adaOn[i % 2]!.send({ type, data: { channel_id: channel } })
    await eventually(() => refusals().length + heard().length > before, WAIT_MS, `an answer to frame ${i} (${type})`)
  }
  const elapsedMs = performance.now() - startedAt
  await settle({ graceB, adaA, adaB })

  // A token bucket of RATE per second, full at the start: at most RATE, plus what refills meanwhile.
  const allowed = Math.floor(RATE + (RATE * elapsedMs) / 1000)
  const events = heard()
  t.ok(events.length <= allowed, `grace heard ${events.length} typing events of ada in ${Math.round(elapsedMs)} ms, at most the ${allowed} one user may send`)
  t.equal(refusals().length, FRAMES - events.length, 'every frame not announced was refused')
  t.ok(
    refusals().every((m) => m.data.code === 'rate_limited' && (m.data.request_type === 'typing:start' || m.data.request_type === 'typing:stop')),
    'each refusal is rate_limited, naming the typing message refused',
  )
  t.same(
    events,
    events.map((_, i) => typing(i % 2 === 0 ? 'typing:start' : 'typing:stop', channel, ada)),
    'what grace heard is starts and stops in turn',
  )
})
