/**
 * Contract section 5, "Presence scope", across instances over one real
 * redis-server: what a subscriber on one instance is told of users on
 * another (invisible, offline, unknown), and the races: subscribes and
 * unsubscribes while the user keeps changing (the subscriber's view always
 * ends on the truth), a connection that closes with its subscribe in flight
 * (its instance keeps no channel for it), and a user reconnecting to another
 * instance while subscribed to.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { eventually, ids, type BuiltApp, type ServerMessage, type TestClient } from '../helper.js'
import { seedUsers } from '../fixtures/roomler2.js'
import { isPresence } from '../fixtures/messages.js'
import { cluster } from '../redis/instances.js'
import { subscribe, told, toldNothingOf } from './scope-tools.js'
import { internalsOf } from '../../plugins/internals.js'
import { RedisKeys } from '../../lib/redis/keys.js'

/** How many channels the instance's subscriber connection holds, as Redis reports it (CLIENT LIST `sub=`). */
async function channelsHeld(admin: Redis, node: BuiltApp): Promise<number> {
  const name = `roomler-rt-sub:${internalsOf(node.app).realtimeCluster.instanceId}`
  const line = String(await admin.client('LIST')).split('\n').find((entry) => entry.includes(` name=${name} `))
  return Number(line ? /\bsub=(\d+)/.exec(line)?.[1] : NaN)
}

/** What a client believes of `userId` from everything it received: the last presence:state naming them, then the updates after it. */
function believed(client: TestClient, userId: string): string | undefined {
  let view: string | undefined
  for (const m of client.received as ServerMessage[]) {
    if (m.type === 'presence:state' && userId in m.data.presences) view = m.data.presences[userId]
    else if (isPresence(userId)(m)) view = m.data.presence
  }
  return view
}

t.test('subscribed, across instances: presence:state of users on another instance who are online, idle, invisible, offline or unknown', async (t) => {
  const { db, nodes } = await cluster(t, 2, { presenceScope: 'subscribed' })
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const [asker, onlineU, idleU, ivy, offlineU, unknownU] = ids()
  await seedUsers(db, [asker, onlineU, idleU, ivy, offlineU], {}, { [ivy]: { chosen_presence: 'invisible' } })
  await A.connect(onlineU)
  const idle = await A.connect(idleU)
  idle.send({ type: 'presence:update', data: { presence: 'idle' } })
  await idle.next(isPresence(idleU, 'idle'))
  const i = await A.connect(ivy)
  const a = await B.connect(asker)
  t.same(
    await subscribe(a, [onlineU, idleU, ivy, offlineU, unknownU]),
    { [onlineU]: 'online', [idleU]: 'idle', [ivy]: 'offline', [offlineU]: 'offline', [unknownU]: 'offline' },
    'visible presence of each; invisible, offline and unknown look the same',
  )
  i.send({ type: 'presence:update', data: { presence: 'online' } })
  await told(t, { asker: a }, ivy, 'online', 'ivy shows herself: the subscriber on the other instance hears it')
  i.send({ type: 'presence:update', data: { presence: 'invisible' } })
  await told(t, { asker: a }, ivy, 'offline', 'and hides again: offline')
  await i.close()
  // An unknown user who turns out to exist later is heard like any other.
  await A.connect(unknownU)
  await told(t, { asker: a }, unknownU, 'online', 'the once unknown id connects and is heard')
  await toldNothingOf(t, { asker: a }, ivy, 'invisible ivy leaving was not announced')
})

t.test('subscribed, across instances: subscribes and unsubscribes while the user keeps changing end on the truth', async (t) => {
  const { nodes } = await cluster(t, 2, { presenceScope: 'subscribed', rateLimitPerSec: 1000, rateLimitBurst: 1000 })
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const [ursula, flicker, steady] = ids()
  const u = await A.connect(ursula)
  const f = await B.connect(flicker)
  const s = await B.connect(steady)
  await subscribe(s, [ursula])
  const states = ['idle', 'online', 'dnd', 'online'] as const
  for (let round = 0; round < 20; round++) {
    // Without waiting: the user changes while the other subscribes and unsubscribes.
    u.send({ type: 'presence:update', data: { presence: states[round % states.length] } })
    f.send({ type: 'presence:subscribe', data: { user_ids: [ursula] } })
    if (round % 3 !== 2) f.send({ type: 'presence:unsubscribe', data: { user_ids: [ursula] } })
  }
  // Its last word: subscribe. Then the user's last change, to a presence no earlier one had (invisible: offline
  // to others), so that hearing it proves every change before it was heard too (they come in order).
  f.send({ type: 'presence:subscribe', data: { user_ids: [ursula] } })
  u.send({ type: 'presence:update', data: { presence: 'invisible' } })
  await eventually(() => believed(s, ursula) === 'offline', 5000, 'the steady subscriber heard the last change')
  await f.sync()
  await s.sync()
  t.equal(believed(f, ursula), 'offline', 'the flickering subscriber’s view ends on the truth')
  t.equal(believed(s, ursula), 'offline', 'so does the steady one’s')
  const toldSteady = s.received.filter(isPresence(ursula)).map((m) => m.data.presence)
  t.ok(toldSteady.every((presence, k) => k === 0 || presence !== toldSteady[k - 1]), `the steady subscriber was told changes only, never one twice in a row: ${toldSteady.join(' ')}`)
  u.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await told(t, { flicker: f, steady: s }, ursula, 'dnd', 'both hear the next change')
})

t.test('subscribed, across instances: a connection that closes with its subscribe in flight leaves no channel behind', async (t) => {
  const { redis, nodes } = await cluster(t, 2, { presenceScope: 'subscribed' })
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  const base = await channelsHeld(admin, B)
  const [ursula, ...watchers] = ids()
  const u = await A.connect(ursula)
  for (const watcher of watchers) {
    const w = await B.connect(watcher)
    w.send({ type: 'presence:subscribe', data: { user_ids: [ursula, ...ids()] } })
    await w.kill()
  }
  await eventually(() => B.app.wsRegistry.connectionCount === 0, 5000, 'B forgot every connection')
  await eventually(async () => (await channelsHeld(admin, B)) === base, 5000, `B holds its ${base} channels again`)
  t.equal(await channelsHeld(admin, B), base, 'no channel left behind on B')
  t.equal(internalsOf(B.app).realtimePresenceSubscriptions.size, 0, 'and no subscription')
  const heard = internalsOf(B.app).realtimeMetrics.presenceHeard.get('subscribers')
  u.send({ type: 'presence:update', data: { presence: 'idle' } })
  await u.next(isPresence(ursula, 'idle'))
  const check = await B.connect(ids()[0])
  await check.sync()
  t.equal(internalsOf(B.app).realtimeMetrics.presenceHeard.get('subscribers'), heard, 'Redis delivers ursula’s change to B no more')
})

t.test('subscribed, across instances: a watched user who moves to another instance is still heard', async (t) => {
  const { nodes } = await cluster(t, 3, { presenceScope: 'subscribed' })
  const [A, B, C] = nodes as [BuiltApp, BuiltApp, BuiltApp]
  const [ursula, watcher] = ids()
  const w = await C.connect(watcher)
  await subscribe(w, [ursula])
  const onA = await A.connect(ursula)
  await told(t, { watcher: w }, ursula, 'online', 'ursula online on A')
  const onB = await B.connect(ursula)
  await onA.close()
  onB.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await told(t, { watcher: w }, ursula, 'dnd', 'moved to B: her change there is heard, and her leaving A announced nothing')
  await onB.close()
  await told(t, { watcher: w }, ursula, 'offline', 'her last connection closing: offline')
})

t.test('subscribed, across instances: a subscriber whose presence:state is newer than the change on its way is not told it again', async (t) => {
  const { redis, nodes } = await cluster(t, 2, { presenceScope: 'subscribed' })
  const [A, B] = nodes as [BuiltApp, BuiltApp]
  const [xavier, first, second] = ids()
  const x = await B.connect(xavier)
  const w1 = await A.connect(first)
  t.same(await subscribe(w1, [xavier]), { [xavier]: 'online' }, 'the first subscriber: online')
  const w2 = await A.connect(second)
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  // A's subscriber connection reads nothing for a while (its socket paused): xavier's leaving is on its way to A.
  const route = internalsOf(A.app).realtimeCluster.presenceRoute as unknown as { sub: Redis }
  route.sub.stream.pause()
  t.teardown(() => route.sub.stream.resume())
  await x.close()
  await eventually(async () => (await admin.hget(new RedisKeys().presence, xavier)) === null, 5000, 'xavier gone from Redis')
  t.same(await subscribe(w2, [xavier]), { [xavier]: 'offline' }, 'the second subscriber reads him offline')
  await told(t, { first: w1 }, xavier, 'offline', 'the first subscriber is told at once: what the second read is newer')
  route.sub.stream.resume()
  // The change itself arrives now: it matches what both were told.
  await toldNothingOf(t, { first: w1, second: w2 }, xavier, 'neither is told offline again when the route’s copy arrives')
  const again = await B.connect(xavier)
  await told(t, { first: w1, second: w2 }, xavier, 'online', 'both hear him come back')
  await again.close()
})
