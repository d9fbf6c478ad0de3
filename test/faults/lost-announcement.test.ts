/**
 * Contract section 7, an instance's own connection to Redis blips: the
 * command connection of one instance is killed on a real redis-server
 * (CLIENT KILL by its name `roomler-rt:<instanceId>`) and kept from
 * reconnecting (maxclients lowered) while a user connects to it. Its
 * announcements of that user (here, and online) fail to publish; nothing is
 * wrong with the other instance, which would not look again until its next
 * periodic reconcile (a minute here). Once the connection is back, within a
 * few seconds events from the other instance reach the user and its clients
 * see the user online.
 *
 * Run with `npx tsx test/run.ts test/faults/lost-announcement.test.ts`.
 */
import t from 'tap'
import { WAIT_MS, build, eventually, objectId } from '../helper.js'
import { isPresence, killAndHoldAway, publishUntilHeard, ready, redisWithAdmin } from './instance-tools.js'
import { internalsOf } from '../../plugins/internals.js'
import { subscribe } from '../presence/scope-tools.js'

/** Long enough that the periodic reconcile (every third heartbeat, a third of this apart) cannot be what mends it. */
const INSTANCE_TTL_MS = 60_000
/** "Within a few seconds of the connection's return". */
const RECOVERY_MS = 5000

t.test('announcements lost to a killed command connection reach the other instance once it is back', async (t) => {
  const redis = await redisWithAdmin(t)
  const options = { redis: { url: redis.url }, realtime: { instanceTtlMs: INSTANCE_TTL_MS } }
  const a = await build(t, options)
  const b = await build(t, options)
  const watcher = objectId()
  const late = objectId()
  const w = await a.connect(watcher)

  const fault = await killAndHoldAway(t, redis.admin, `roomler-rt:${internalsOf(b.app).realtimeCluster.instanceId}`)
  await eventually(async () => (await ready(b.url)).status === 503, WAIT_MS, '/ready on the second instance to answer 503')

  // The user connects while the second instance cannot publish: its announcements go nowhere.
  const x = await b.connect(late)
  t.same(await w.sync().then(() => w.received.filter(isPresence(late, 'online'))), [], 'the first instance heard nothing of the user yet')

  await fault.letBack()
  await eventually(async () => (await ready(b.url)).status === 200, RECOVERY_MS, '/ready on the second instance to answer 200 again')

  const dispatcher = a.app.wsDispatcher
  const heard = await publishUntilHeard((n) => dispatcher.sendToUser(late, { type: 'note', data: { n } }), x, RECOVERY_MS).catch((error: Error) => error)
  t.ok(!(heard instanceof Error), `an event from the first instance reaches the user${heard instanceof Error ? `: ${heard.message}` : ` (${Math.round(heard.ms)} ms after /ready)`}`)
  const online = await w.next(isPresence(late, 'online'), RECOVERY_MS).catch((error: Error) => error)
  t.ok(!(online instanceof Error), `the first instance’s client sees the user online${online instanceof Error ? `: ${online.message}` : ''}`)
})

t.test('under PRESENCE_SCOPE=subscribed the catch-up after lost announcements tells the subscribers only', async (t) => {
  const redis = await redisWithAdmin(t)
  const options = { redis: { url: redis.url }, realtime: { instanceTtlMs: INSTANCE_TTL_MS, presenceScope: 'subscribed' as const } }
  const a = await build(t, options)
  const b = await build(t, options)
  const [subscriber, bystander, late] = [objectId(), objectId(), objectId()]
  const s = await a.connect(subscriber)
  const w = await a.connect(bystander)
  t.same(await subscribe(s, [late]), { [late]: 'offline' }, 'the subscriber watches a user who is not connected yet')

  const fault = await killAndHoldAway(t, redis.admin, `roomler-rt:${internalsOf(b.app).realtimeCluster.instanceId}`)
  await eventually(async () => (await ready(b.url)).status === 503, WAIT_MS, '/ready on the second instance to answer 503')
  await b.connect(late)
  await fault.letBack()
  await eventually(async () => (await ready(b.url)).status === 200, RECOVERY_MS, '/ready on the second instance to answer 200 again')

  const online = await s.next(isPresence(late, 'online'), RECOVERY_MS).catch((error: Error) => error)
  t.ok(!(online instanceof Error), `the subscriber sees the user online${online instanceof Error ? `: ${online.message}` : ''}`)
  await w.sync()
  t.same(w.received.filter((m) => m.type === 'presence:update' && m.data.user_id === late), [], 'a connection that did not subscribe is told nothing of the user')
})
