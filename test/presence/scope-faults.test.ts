/**
 * Contract section 5, "Presence scope", under the faults of section 7, with
 * real parts only: a standalone instance SIGKILLed by its PID loses its
 * subscriptions (Redis drops the channels of its dead connection, its
 * clients subscribe again wherever they reconnect, and its users go offline
 * for the subscribers elsewhere); and Redis stopped and started again: a
 * subscriber's instance is told what changed meanwhile and hears the next
 * changes, including those of a user it subscribed to during the outage.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { SECRET, WAIT_MS, build, connect, eventually, ids, mongoUrl, signToken, testDatabase, type ServerMessage, type TestClient } from '../helper.js'
import { startRedis } from '../servers/redis.js'
import { spawnStandalone } from '../servers/standalone.js'
import { seedUsers } from '../fixtures/roomler2.js'
import { isPresence } from '../fixtures/messages.js'
import { INSTANCE_TTL_MS, cluster } from '../redis/instances.js'
import { RedisKeys } from '../../lib/redis/keys.js'
import { subscribe, told } from './scope-tools.js'
import { internalsOf } from '../../plugins/internals.js'

const keys = new RedisKeys()
/** The margin the contract's "within INSTANCE_TTL_MS" is given: heartbeats, a sweep, a publish. */
const COUNTED_OUT_MARGIN_MS = 5000
/** How long a spawned server may take to listen (tsx compiles on the fly). */
const START_MS = 20_000
/** How long the cluster may take to come back together once Redis is back. */
const RECOVERY_MS = 15_000

/** How many instances hold a subscriber of the user, as Redis counts them (PUBSUB NUMSUB of the user's channel). */
async function subscribersOf(admin: Redis, userId: string): Promise<number> {
  const [, count] = (await admin.pubsub('NUMSUB', keys.presenceOf(userId))) as [string, number]
  return Number(count)
}

/** Waits until `client` has received, at or after index `from`, a presence:update of `userId` to `presence`. */
async function seen(client: TestClient, userId: string, presence: string, from: number, timeoutMs = WAIT_MS): Promise<ServerMessage> {
  const match = isPresence(userId, presence)
  return (await eventually(() => client.received.slice(from).find(match), timeoutMs, String(match))) as ServerMessage
}

async function ready(url: string): Promise<string> {
  const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(WAIT_MS) })
  return ((await response.json()) as { dependencies: { redis: string } }).dependencies.redis
}

t.test('subscribed: an instance killed with SIGKILL loses its subscriptions; its clients subscribe again elsewhere; its users go offline for subscribers elsewhere', async (t) => {
  const { name, db } = await testDatabase(t, 'scope_kill')
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  const realtime = { instanceTtlMs: INSTANCE_TTL_MS, presenceScope: 'subscribed' as const }
  const A = await build(t, { database: { url: mongoUrl(), name }, redis: { url: redis.url }, realtime })
  const B = await build(t, { database: { url: mongoUrl(), name }, redis: { url: redis.url }, realtime })
  const doomed = await spawnStandalone(t, {
    env: {
      ROOMLER__REDIS__URL: redis.url,
      ROOMLER__DATABASE__URL: mongoUrl(),
      ROOMLER__DATABASE__NAME: name,
      ROOMLER__JWT__SECRET: SECRET,
      ROOMLER__REALTIME__INSTANCE_TTL_MS: String(INSTANCE_TTL_MS),
      ROOMLER__REALTIME__PRESENCE_SCOPE: 'subscribed',
    },
  })
  await doomed.listening(START_MS)
  const [ursula, victim, onDoomed, onB] = ids()
  await seedUsers(db, [ursula, victim, onDoomed, onB])

  const u = await A.connect(ursula)
  const watcherOnDoomed = await connect(t, doomed.wsUrl, signToken({ sub: onDoomed }))
  const watcherOnB = await B.connect(onB)
  t.same(await subscribe(watcherOnDoomed, [ursula]), { [ursula]: 'online' }, 'the watcher on the doomed instance subscribes to ursula (on A)')
  t.same(await subscribe(watcherOnB, [ursula, victim]), { [ursula]: 'online', [victim]: 'offline' }, 'the watcher on B subscribes to ursula and the victim')
  t.equal(await subscribersOf(admin, ursula), 2, 'two instances hold a subscriber of ursula')
  u.send({ type: 'presence:update', data: { presence: 'idle' } })
  await told(t, { 'the watcher on the doomed instance': watcherOnDoomed, 'the watcher on B': watcherOnB }, ursula, 'idle', 'both hear ursula go idle')
  const victimOnDoomed = await connect(t, doomed.wsUrl, signToken({ sub: victim }))
  await told(t, { 'the watcher on B': watcherOnB }, victim, 'online', 'hears the victim come online on the doomed instance')

  doomed.child.kill('SIGKILL')
  await doomed.exited
  await Promise.all([watcherOnDoomed.closed, victimOnDoomed.closed])
  await eventually(async () => (await subscribersOf(admin, ursula)) === 1, WAIT_MS, 'Redis dropped the dead instance’s subscription')
  t.equal(await subscribersOf(admin, ursula), 1, 'Redis dropped the dead instance’s channel with its connection: one subscriber instance left')

  const gone = await watcherOnB.next(isPresence(victim), INSTANCE_TTL_MS + COUNTED_OUT_MARGIN_MS).catch((error: Error) => {
    throw new Error(`${error.message}\nthe spawned server said:\n${doomed.output()}`)
  })
  t.equal(gone.data.presence, 'offline', 'the dead instance is counted out: its user goes offline for the subscriber on B')
  u.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await told(t, { 'the watcher on B': watcherOnB }, ursula, 'dnd', 'the living subscriber still hears ursula')

  // The doomed instance's client reconnects to A (its subscriptions died with it) and subscribes again.
  const back = await A.connect(onDoomed)
  t.same(await subscribe(back, [ursula]), { [ursula]: 'dnd' }, 'subscribed again on A: told ursula’s state at once')
  u.send({ type: 'presence:update', data: { presence: 'online' } })
  await told(t, { 'the reconnected watcher': back, 'the watcher on B': watcherOnB }, ursula, 'online', 'and hears her next change')
})

t.test('subscribed, three instances: after a Redis outage a subscriber’s instance is told what it missed and hears the next changes; one without a subscriber is sent nothing', async (t) => {
  const { redis, nodes } = await cluster(t, 3, { presenceScope: 'subscribed' })
  const [A, B, C] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
  const [ursula, zed, watcher, lateWatcher, bystander] = ids()
  // C holds a connection and no subscriber: before, during and after the outage it is sent nothing of them.
  const onC = await C.connect(bystander)
  const u = await A.connect(ursula)
  const w = await B.connect(watcher)
  t.same(await subscribe(w, [ursula]), { [ursula]: 'online' }, 'the watcher on B subscribes to ursula (on A)')
  u.send({ type: 'presence:update', data: { presence: 'idle' } })
  await told(t, { watcher: w }, ursula, 'idle', 'hears her go idle')

  await redis.stop()
  for (const node of [A, B, C]) await eventually(async () => (await ready(node.url)) === 'down', WAIT_MS, '/ready says Redis is down')
  const mark = w.received.length
  u.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await u.next(isPresence(ursula, 'dnd'))
  // A subscribe during the outage is still answered (from what this instance knows) and still holds.
  const late = await B.connect(lateWatcher)
  const during = await subscribe(late, [zed])
  t.same(during, { [zed]: 'offline' }, 'a subscribe during the outage is answered')

  await redis.start()
  for (const node of [A, B, C]) await eventually(async () => (await ready(node.url)) === 'ok', RECOVERY_MS, '/ready says Redis is ok again')
  const caughtUp = await seen(w, ursula, 'dnd', mark, RECOVERY_MS).catch((error: Error) => error)
  t.notOk(caughtUp instanceof Error, `the watcher is told ursula’s change it missed: ${caughtUp instanceof Error ? caughtUp.message : 'dnd'}`)
  // Not the catch-up's doing: Redis routes both users' changes to B again, and B hears them on their channels.
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  for (const userId of [ursula, zed]) await eventually(async () => (await subscribersOf(admin, userId)) === 1, RECOVERY_MS, 'B subscribed again')
  t.equal(await subscribersOf(admin, ursula), 1, 'B holds ursula’s channel again')
  t.equal(await subscribersOf(admin, zed), 1, 'and that of zed, subscribed to during the outage')
  const heardOnChannels = () => internalsOf(B.app).realtimeMetrics.presenceHeard.get('subscribers')
  let heardBefore = heardOnChannels()
  const after = w.received.length
  u.send({ type: 'presence:update', data: { presence: 'online' } })
  const next = await seen(w, ursula, 'online', after, RECOVERY_MS).catch((error: Error) => error)
  t.notOk(next instanceof Error, 'the watcher hears her next change')
  t.ok(heardOnChannels() > heardBefore, 'delivered by Redis on her channel')
  heardBefore = heardOnChannels()
  await A.connect(zed)
  const zedSeen = await seen(late, zed, 'online', 0, RECOVERY_MS).catch((error: Error) => error)
  t.notOk(zedSeen instanceof Error, 'the subscription made during the outage holds once Redis is back: zed (on A) is heard')
  t.ok(heardOnChannels() > heardBefore, 'delivered by Redis on his channel')
  t.equal(internalsOf(C.app).realtimeMetrics.presenceHeard.get('subscribers') + internalsOf(C.app).realtimeMetrics.presenceHeard.get('everyone'), 0, 'C, with no subscriber, was delivered no presence change at all')
  t.same((await onC.sync()).filter((m) => m.type === 'presence:update' && m.data.user_id !== bystander), [], 'and its user was told none')
  t.comment(`what the watcher was told of ursula: ${JSON.stringify(w.received.filter(isPresence(ursula)).map((m) => m.data.presence))}`)
})
