/**
 * Contract sections 4, 6 and 7 when an instance goes, with real processes: a
 * standalone instance (spawned, sharing a real redis-server and MongoDB with
 * an in-process one) holds a user typing in a channel whose other member is
 * on the in-process instance.
 *
 * - SIGTERM (a rolling deploy): the other member receives `typing:stop` before
 *   the instance is gone, not at TYPING_TIMEOUT_MS (a minute here);
 * - SIGKILL: the survivor counts the instance out within INSTANCE_TTL_MS and
 *   announces the stop;
 * - the whole cluster SIGKILLed: an instance that starts and finds no other
 *   live one records the users the database still shows present offline,
 *   whether Redis kept its state (the dead instances still listed) or lost it
 *   (restarted without persistence).
 *
 * Run with `npx tsx test/run.ts test/faults/instance-loss.test.ts`.
 */
import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { build, connect, eventually, mongoUrl, objectId, signToken, testDatabase } from '../helper.js'
import { startRedis, type RunningRedis } from '../servers/redis.js'
import { spawnStandalone } from '../servers/standalone.js'
import { recordFigures } from '../reliability/record.js'
import { RedisKeys } from '../../lib/redis/keys.js'
import { addMembers, adminClient, instanceEnv, isTyping, seedUsers, userWhere } from './instance-tools.js'

const INSTANCE_TTL_MS = 1000
/** Long enough that an expiry cannot pass for the stop under test. */
const TYPING_TIMEOUT_MS = 60_000
/** How long a spawned server may take to listen (tsx compiles on the fly). */
const START_MS = 20_000
/** The margin the contract's "within INSTANCE_TTL_MS" is given: heartbeats, a sweep, a publish. */
const COUNTED_OUT_MARGIN_MS = 5000
const SETTINGS = { INSTANCE_TTL_MS, TYPING_TIMEOUT_MS }

async function typingAcross(t: Test, signal: 'SIGTERM' | 'SIGKILL') {
  const { name, db } = await testDatabase(t, `typing_${signal}`)
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const [typist, member] = [objectId(), objectId()]
  const channel = objectId()
  await seedUsers(db, [typist, member])
  await addMembers(db, channel, [typist, member])

  const survivor = await build(t, { database: { url: mongoUrl(), name }, redis: { url: redis.url }, realtime: { instanceTtlMs: INSTANCE_TTL_MS, typingTimeoutMs: TYPING_TIMEOUT_MS } })
  const doomed = await spawnStandalone(t, { env: instanceEnv(redis.url, name, SETTINGS) })
  await doomed.listening(START_MS)

  const m = await survivor.connect(member)
  const typing = await connect(t, doomed.wsUrl, signToken({ sub: typist }))
  typing.send({ type: 'typing:start', data: { channel_id: channel } })
  await m.next(isTyping('typing:start', channel, typist))

  const at = performance.now()
  doomed.child.kill(signal)
  const bound = signal === 'SIGTERM' ? 5000 : INSTANCE_TTL_MS + COUNTED_OUT_MARGIN_MS
  const stop = await m.next(isTyping('typing:stop', channel, typist), bound).catch((error: Error) => error)
  const ms = performance.now() - at
  if (stop instanceof Error) t.fail(`the other member receives typing:stop after ${signal}: ${stop.message}\nthe instance said:\n${doomed.output()}`)
  else t.pass(`the other member receives typing:stop ${Math.round(ms)} ms after ${signal} (TYPING_TIMEOUT_MS ${TYPING_TIMEOUT_MS})`)
  const exit = await doomed.exit()
  if (signal === 'SIGTERM') {
    t.equal(exit.code, 0, 'the instance exits cleanly')
    t.equal((await typing.closed).code, 1001, 'its typist’s connection was closed with 1001')
  }
  const admin = adminClient(redis.url)
  t.teardown(() => admin.disconnect())
  // Typing state: who types where (t:) and which instance owns whom (ti:); a user's rate bucket (tr:) is not state, and expires by itself.
  const prefix = new RedisKeys().prefix
  const left = [...(await admin.keys(`${prefix}t:*`)), ...(await admin.keys(`${prefix}ti:*`))]
  t.same(left, [], 'no typing state is left in Redis')
  await m.sync()
  t.same(m.received.filter(isTyping('typing:stop', channel, typist)).length, 1, 'the stop is announced once')
  return Math.round(ms)
}

t.test('SIGTERM of an instance mid-typing: the other members receive typing:stop before it closes', async (t) => {
  const ms = await typingAcross(t, 'SIGTERM')
  if (!t.passing()) return
  recordFigures('instance-sigterm-typing', {
    tried: 'a standalone instance SIGTERMed while one of its users was typing in a channel whose other member was on another instance (TYPING_TIMEOUT_MS 60000)',
    held: `the other member received typing:stop ${ms} ms after the signal, once; the instance exited 0 after closing its connections with 1001; no typing state was left in Redis`,
    figures: { typing_stop_after_sigterm_ms: ms, typing_timeout_ms: TYPING_TIMEOUT_MS },
  })
})

t.test('SIGKILL of an instance mid-typing: the survivor counts it out and announces typing:stop', async (t) => {
  const ms = await typingAcross(t, 'SIGKILL')
  if (!t.passing()) return
  recordFigures('instance-sigkill-typing', {
    tried: `a standalone instance SIGKILLed while one of its users was typing in a channel whose other member was on another instance (INSTANCE_TTL_MS ${INSTANCE_TTL_MS}, TYPING_TIMEOUT_MS 60000)`,
    held: `the survivor counted it out and the other member received typing:stop ${ms} ms after the kill, once; no typing state was left in Redis`,
    figures: { typing_stop_after_sigkill_ms: ms, instance_ttl_ms: INSTANCE_TTL_MS },
  })
})

/** Two instances with a user each, both SIGKILLed; `between` runs before a new instance starts. → ms from its start until both users are offline in `users` */
async function wholeClusterCrash(t: Test, label: string, between: (redis: RunningRedis) => Promise<void>): Promise<number> {
  const { name, db } = await testDatabase(t, label)
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const users = [objectId(), objectId()]
  await seedUsers(db, users)
  const cluster = await Promise.all([0, 1].map(() => spawnStandalone(t, { env: instanceEnv(redis.url, name, SETTINGS) })))
  await Promise.all(cluster.map((instance) => instance.listening(START_MS)))
  await Promise.all(cluster.map((instance, i) => connect(t, instance.wsUrl, signToken({ sub: users[i] }))))
  for (const user of users) await userWhere(db, user, (doc) => doc.presence === 'online', `users.presence of ${user} online`)

  for (const instance of cluster) instance.child.kill('SIGKILL')
  await Promise.all(cluster.map((instance) => instance.exited))
  await between(redis)

  const started = performance.now()
  await build(t, { database: { url: mongoUrl(), name }, redis: { url: redis.url }, realtime: { instanceTtlMs: INSTANCE_TTL_MS } })
  for (const user of users) {
    const doc = await userWhere(db, user, (d) => d.presence === 'offline', `users.presence of ${user} offline`, 10_000).catch((error: Error) => error)
    if (doc instanceof Error) t.fail(`a user of the crashed cluster is recorded offline: ${doc.message}`)
    else t.ok(doc.last_active_at > new Date('2024-01-02T00:00:00.000Z'), 'a user of the crashed cluster is recorded offline, last_active_at set')
  }
  return Math.round(performance.now() - started)
}

t.test('the whole cluster SIGKILLed, Redis kept its state: the next instance records its users offline', async (t) => {
  const admin = { value: undefined as ReturnType<typeof adminClient> | undefined }
  const ms = await wholeClusterCrash(t, 'crash_kept', async (redis) => {
    // The dead instances stay listed until their heartbeats are older than INSTANCE_TTL_MS.
    admin.value = adminClient(redis.url)
    t.teardown(() => admin.value?.disconnect())
    const keys = new RedisKeys()
    await eventually(async () => (await admin.value!.zrangebyscore(keys.instances, Date.now() - INSTANCE_TTL_MS, '+inf')).length === 0, 5000, 'the dead instances’ heartbeats to age past INSTANCE_TTL_MS')
  })
  if (!t.passing()) return
  recordFigures('cluster-crash-redis-kept', {
    tried: 'both instances of a cluster SIGKILLed with a user each; Redis kept its state; a new instance started after INSTANCE_TTL_MS',
    held: `both users were recorded offline in users ${ms} ms after the new instance started`,
    figures: { offline_after_start_ms: ms },
  })
})

t.test('the whole cluster SIGKILLed and Redis restarted empty: the next instance records its users offline', async (t) => {
  const ms = await wholeClusterCrash(t, 'crash_lost', async (redis) => {
    await redis.stop({ kill: true })
    await redis.start()
  })
  if (!t.passing()) return
  recordFigures('cluster-crash-redis-lost', {
    tried: 'both instances of a cluster SIGKILLed with a user each, then redis-server SIGKILLed and restarted without persistence; a new instance started',
    held: `both users were recorded offline in users ${ms} ms after the new instance started`,
    figures: { offline_after_start_ms: ms },
  })
})
