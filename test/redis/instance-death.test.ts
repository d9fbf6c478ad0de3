/**
 * Contract section 7 under faults, black box, with real parts only: an
 * instance that dies without closing anything (a standalone server process,
 * SIGKILLed by its PID) is counted out within INSTANCE_TTL_MS: its users who
 * have no other connection go offline for the clients of the other instances
 * and in `users`; a user also connected elsewhere stays online.
 *
 * The measured times are recorded with recordFigures, not asserted beyond the
 * contract's own bounds. Run with `npx tsx test/run.ts test/redis/instance-death.test.ts`.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { SECRET, build, connect, ids, mongoUrl, signToken, testDatabase } from '../helper.js'
import { startRedis } from '../servers/redis.js'
import { spawnStandalone } from '../servers/standalone.js'
import { recordFigures } from '../reliability/record.js'
import { seedUsers, userDoc, userWhere } from '../fixtures/roomler2.js'
import { isPresence, presenceOf } from '../fixtures/messages.js'
import { INSTANCE_TTL_MS, presences } from './instances.js'

/** The margin the contract's "within INSTANCE_TTL_MS" is given: heartbeats, a sweep, a publish. */
const COUNTED_OUT_MARGIN_MS = 5000
/** How long a spawned server may take to listen (tsx compiles on the fly). */
const START_MS = 20_000

const round = (ms: number) => Math.round(ms)

t.test('an instance killed with SIGKILL is counted out: its users go offline everywhere and in users; a user connected elsewhere too stays online', async (t) => {
  const { name, db } = await testDatabase(t, 'cluster_kill')
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const [victim, both, watcher] = ids()
  await seedUsers(db, [victim, both, watcher])
  const seededActive = (await userDoc(db, victim))!.last_active_at as Date

  const inProcess = await build(t, { database: { url: mongoUrl(), name }, redis: { url: redis.url }, realtime: { instanceTtlMs: INSTANCE_TTL_MS } })
  const doomed = await spawnStandalone(t, {
    env: {
      ROOMLER__REDIS__URL: redis.url,
      ROOMLER__DATABASE__URL: mongoUrl(),
      ROOMLER__DATABASE__NAME: name,
      ROOMLER__JWT__SECRET: SECRET,
      ROOMLER__REALTIME__INSTANCE_TTL_MS: String(INSTANCE_TTL_MS),
    },
  })
  await doomed.listening(START_MS)

  const w = await inProcess.connect(watcher)
  const victimConnectedAt = Date.now()
  const victimOnDoomed = await connect(t, doomed.wsUrl, signToken({ sub: victim }))
  t.same(await w.next(isPresence(victim)), presenceOf(victim, 'online'), 'a client of the in-process instance sees the victim come online on the spawned one')
  const bothOnDoomed = await connect(t, doomed.wsUrl, signToken({ sub: both }))
  t.same(await w.next(isPresence(both)), presenceOf(both, 'online'), 'and the user who will be on both')
  const bothHere = await inProcess.connect(both)
  await userWhere(db, victim, (doc) => doc.presence === 'online', 'users.presence of the victim online')
  await userWhere(db, both, (doc) => doc.presence === 'online', 'users.presence of the other user online')

  const killedAt = performance.now()
  doomed.child.kill('SIGKILL')
  await doomed.exited
  await Promise.all([victimOnDoomed.closed, bothOnDoomed.closed])

  const gone = await w.next(isPresence(victim), INSTANCE_TTL_MS + COUNTED_OUT_MARGIN_MS).catch((error: Error) => {
    throw new Error(`${error.message}\nthe spawned server said:\n${doomed.output()}`)
  })
  const offlineAfterMs = performance.now() - killedAt
  t.same(gone, presenceOf(victim, 'offline'), `the victim goes offline for the other instance’s clients (${round(offlineAfterMs)} ms after the kill; INSTANCE_TTL_MS ${INSTANCE_TTL_MS})`)
  t.same(await bothHere.next(isPresence(victim)), presenceOf(victim, 'offline'), 'for every connected user')

  const doc = await userWhere(db, victim, (d) => d.presence === 'offline', 'users.presence of the victim offline')
  const dbOfflineAfterMs = performance.now() - killedAt
  const lastActive = doc.last_active_at as Date | undefined
  t.ok(lastActive instanceof Date && lastActive.getTime() > seededActive.getTime(), 'users.last_active_at is set anew')
  t.ok(
    lastActive instanceof Date && lastActive.getTime() >= victimConnectedAt - 1000 && lastActive.getTime() <= Date.now() + 1000,
    `between the victim’s connection and now (${lastActive?.toISOString()})`,
  )

  // The user who is still connected to the living instance stays online.
  await w.sync()
  t.same(w.received.filter(isPresence(both)), [presenceOf(both, 'online')], 'the watcher was told nothing more about the user still connected')
  t.same(await presences(inProcess.url, watcher, [both, victim]), { [both]: 'online', [victim]: 'offline' }, 'GET /presence agrees')
  t.equal((await userDoc(db, both))?.presence, 'online', 'users.presence of that user is still online')

  // The dead instance's connections no longer count: closing the surviving one makes that user offline.
  await bothHere.close()
  t.same(await w.next(isPresence(both)), presenceOf(both, 'offline'), 'closing the last living connection takes that user offline')
  await userWhere(db, both, (d) => d.presence === 'offline', 'users.presence of that user offline')

  // And the victim can come back on the living instance.
  await inProcess.connect(victim)
  t.same(await w.next(isPresence(victim)), presenceOf(victim, 'online'), 'the victim reconnects elsewhere and is online again')

  const figures = {
    instance_ttl_ms: INSTANCE_TTL_MS,
    offline_seen_after_kill_ms: round(offlineAfterMs),
    users_offline_after_kill_ms: round(dbOfflineAfterMs),
  }
  t.comment(JSON.stringify(figures))
  if (!t.passing()) return t.comment('figures not recorded: the test failed')
  recordFigures('cluster-instance-death', {
    tried: `a standalone instance SIGKILLed while holding the only connection of one user and one of two connections of another (the other on an in-process instance); INSTANCE_TTL_MS ${INSTANCE_TTL_MS}, one redis-server, MongoDB`,
    held: `the first user went offline for the other instance’s clients ${round(offlineAfterMs)} ms after the kill and in users; the second stayed online until their last living connection closed`,
    figures,
  })
})
