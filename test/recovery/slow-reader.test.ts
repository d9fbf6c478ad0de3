/**
 * A burst that outruns one instance's reader (a real redis-server, two
 * instances): the stream is both the history and the transport, and each
 * instance reads it from its last entry. The fault: the second instance's
 * reader connection is stalled (a relay holds its bytes; the rest of that
 * instance, its heartbeat included, goes on) while the first publishes more
 * events than the stream keeps by count (MIN_STREAM_LENGTH, 10,000). The
 * trim goes no further than the entry the slow reader still needs, so once
 * it reads again it delivers every event, and no connection is closed
 * (1012, the gap path).
 */
import t from 'tap'
import { build, eventually, mongoUrl, objectId, testDatabase, type BuiltApp } from '../helper.js'
import { INSTANCE_TTL_MS } from '../redis/instances.js'
import { namedStallRelay } from '../faults/tools.js'
import { startRedis } from '../servers/redis.js'
import { adminClient } from '../faults/instance-tools.js'
import { internalsOf } from '../../plugins/internals.js'
import { RedisKeys } from '../../lib/redis/keys.js'
import { applicationEvents, note, until } from './tools.js'

const BURST = 12_000
const UNLIMITED = { rateLimitPerSec: 1_000_000, rateLimitBurst: 1_000_000, instanceTtlMs: INSTANCE_TTL_MS }
const WAIT_MS = 60_000

t.test('a burst larger than the count bound, while one reader is stalled: it delivers every event once it reads again, no 1012', async (t) => {
  const { name } = await testDatabase(t, 'slow_reader')
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const relay = await namedStallRelay(t, redis.url)
  t.teardown(() => relay.flow())
  const admin = adminClient(redis.url)
  t.teardown(() => admin.disconnect())
  const A = await build(t, { database: { url: mongoUrl(), name }, redis: { url: redis.url }, realtime: UNLIMITED })
  const B: BuiltApp = await build(t, { database: { url: mongoUrl(), name }, redis: { url: relay.url }, realtime: UNLIMITED })
  const alice = objectId()
  const client = await B.connect(alice)
  A.app.wsDispatcher.sendToUser(alice, note('before'))
  const before = ((await until(client, 'before')) as { offset?: string }).offset!
  const beforeN = Number(before.split('-').at(-1))
  // A has learned where B's reader is (B's heartbeat recorded it, then A's read it).
  const historyOf = (node: BuiltApp) => internalsOf(node.app).realtimeCluster.history as unknown as { oldestReader: number | null }
  await eventually(() => historyOf(A).oldestReader === beforeN, WAIT_MS, 'A knows the oldest live reader is at "before"')

  relay.stall('roomler-rt-read:')
  const published = ['before']
  for (let i = 0; i < BURST; i++) {
    published.push(`e${i}`)
    A.app.wsDispatcher.sendToUser(alice, note(`e${i}`))
  }
  const keys = new RedisKeys()
  await eventually(async () => Number(await admin.get(keys.historyCount)) >= beforeN + BURST, WAIT_MS, 'the burst appended')
  t.ok((await admin.xlen(keys.history)) > BURST, 'nothing the stalled reader needs was trimmed')

  relay.flow()
  await until(client, `e${BURST - 1}`).catch(() => undefined)
  t.equal(client.closeCode, undefined, 'not closed (no gap, no 1012)')
  const got = applicationEvents(client)
  t.equal(got.length, published.length, `${published.length} events`)
  t.ok(got.length === published.length && got.every((text, i) => text === published[i]), 'every one, once, in order')
})
