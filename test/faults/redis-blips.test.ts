/**
 * Contract section 7, "the same when only one of an instance's connections to
 * Redis drops and returns": the subscriber connection of one instance is
 * killed on a real redis-server (CLIENT KILL, found by its connection name
 * `roomler-rt-sub:<instanceId>`) and kept from reconnecting for a while
 * (maxclients lowered, as a Redis at its connection limit does), while a user
 * connects to the other instance. That instance's announcement (the user is
 * here, and online) is lost to the first. Once the subscriber is back, within
 * a few seconds events from the first instance reach the new user and its
 * clients see the user online; meanwhile `/ready` says Redis is down.
 *
 * Run with `npx tsx test/run.ts test/faults/redis-blips.test.ts`.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { WAIT_MS, build, eventually, objectId } from '../helper.js'
import { recordFigures } from '../reliability/record.js'
import { RedisKeys } from '../../lib/redis/keys.js'
import { isPresence, killAndHoldAway, publishUntilHeard, ready, redisWithAdmin } from './instance-tools.js'
import { internalsOf } from '../../plugins/internals.js'

const INSTANCE_TTL_MS = 1000
/** "Within a few seconds of the subscriber's return". */
const RECOVERY_MS = 5000
/** Events published after the recovery, each to arrive. */
const AFTER = 20

t.test('a killed subscriber connection: /ready says Redis is down until it is back, then events and presence reach a user who connected meanwhile', async (t) => {
  const redis = await redisWithAdmin(t)
  const admin = redis.admin
  const options = { redis: { url: redis.url }, realtime: { instanceTtlMs: INSTANCE_TTL_MS } }
  const a = await build(t, options)
  const b = await build(t, options)
  const watcher = objectId()
  const late = objectId()
  const w = await a.connect(watcher)
  t.same((await ready(a.url)).redis, 'ok', '/ready on the first instance says Redis is ok before the fault')

  // The fault: the subscriber connection killed, and kept from coming back until the test lets it.
  const killed = performance.now()
  const fault = await killAndHoldAway(t, admin, `roomler-rt-sub:${internalsOf(a.app).realtimeCluster.instanceId}`)

  const down = await eventually(async () => (await ready(a.url)).status === 503, WAIT_MS, '/ready on the first instance to answer 503').then(
    () => true,
    () => false,
  )
  t.ok(down, '/ready on the first instance says Redis is down while it does not hear the others')
  t.same(await ready(a.url).then((r) => r.redis), down ? 'down' : 'ok', 'and names redis as the dependency down')

  // Meanwhile a user connects to the other instance, which announces it to deaf ears.
  const x = await b.connect(late)
  const keys = new RedisKeys()
  await eventually(async () => (await admin.sismember(keys.usersOf(internalsOf(b.app).realtimeCluster.instanceId), late)) === 1, WAIT_MS, 'the new user held by the second instance in Redis')

  await fault.letBack()
  const restored = performance.now()
  await eventually(async () => (await ready(a.url)).status === 200, RECOVERY_MS, '/ready on the first instance to answer 200 again')
  const readyAfterMs = performance.now() - restored

  // Events from the first instance to the user who connected during the blip.
  const dispatcher = a.app.wsDispatcher
  const first = await publishUntilHeard((n) => dispatcher.sendToUser(late, { type: 'note', data: { n } }), x, RECOVERY_MS).catch((error: Error) => error)
  if (first instanceof Error) t.fail(`an event from the first instance reached the user who connected during the blip: ${first.message}`)
  else t.pass(`an event from the first instance reached the user who connected during the blip (${Math.round(first.ms)} ms after /ready)`)
  await eventually(() => x.received.filter((m) => m.type === 'note').length >= (first instanceof Error ? 0 : first.sent), WAIT_MS).catch(() => {})

  const before = x.received.length
  for (let n = 1; n <= AFTER; n++) dispatcher.sendToUser(late, { type: 'after', data: { n } })
  const after = await eventually(() => (x.received.slice(before).filter((m) => m.type === 'after').length >= AFTER ? true : undefined), WAIT_MS).then(
    () => x.received.slice(before).filter((m) => m.type === 'after').map((m) => m.data.n),
    () => x.received.slice(before).filter((m) => m.type === 'after').map((m) => m.data.n),
  )
  t.same(after, Array.from({ length: AFTER }, (_, i) => i + 1), `the next ${AFTER} events all arrive, in order, once`)

  // The presence announced during the blip is caught up.
  const online = await w.next(isPresence(late, 'online'), RECOVERY_MS).catch((error: Error) => error)
  t.ok(!(online instanceof Error), `the first instance’s client sees the new user online after the catch-up${online instanceof Error ? `: ${online.message}` : ''}`)

  const figures = {
    subscriber_away_ms: Math.round(restored - killed),
    ready_after_return_ms: Math.round(readyAfterMs),
    first_event_after_ready_ms: first instanceof Error ? 'never' : Math.round(first.ms),
    events_after_recovery: AFTER,
    events_after_recovery_lost: AFTER - after.length,
  }
  t.comment(JSON.stringify(figures))
  if (!t.passing()) return
  recordFigures('redis-subscriber-blip', {
    tried: `the subscriber connection of one of two instances killed with CLIENT KILL (found by its name roomler-rt-sub:<instance>) and kept from reconnecting (maxclients lowered) while a user connected to the other instance; then let back`,
    held: `/ready on the deaf instance said redis down until it was subscribed again; ${Math.round(readyAfterMs)} ms after the subscriber could return /ready said ok, the next event reached the new user ${first instanceof Error ? '' : Math.round(first.ms)} ms later, every one of the next ${AFTER} arrived in order, and the deaf instance’s client saw the new user online`,
    figures,
  })
})
