/**
 * The heartbeat trims the shared history by age (a real redis-server): a
 * trim Redis refuses is counted, and neither marks the instance down nor
 * keeps dead instances from being counted out.
 */
import t from 'tap'
import { ConnectionRegistry } from '../../lib/connections/registry.js'
import { startRedisCluster } from '../../lib/redis/cluster.js'
import { connection, suiteRedis, testKeys } from '../fixtures/ports.js'
import { eventually, objectId } from '../helper.js'

const WAIT_MS = 30_000

t.test('a trim that fails is only counted', async (t) => {
  const redis = await suiteRedis(t)
  const keys = testKeys()
  const admin = connection(t, redis)
  const log = { info: () => {}, warn: (obj: object, msg: string) => t.comment(msg) }
  const cluster = await startRedisCluster({
    url: redis.url,
    instanceId: objectId(),
    instanceTtlMs: 600,
    typingTimeoutMs: 30_000,
    history: { windowMs: 60_000, events: 100, maxBytes: 1024 ** 2 },
    typingRatePerSec: 10,
    registry: new ConnectionRegistry(),
    log,
    keys,
  })
  t.teardown(() => cluster.close())
  await eventually(() => cluster.redisState() === 'ok', WAIT_MS, 'up')
  // Seen right after each failed trim has been handled.
  const states: string[] = []
  let trims = 0
  cluster.history.trim = async () => {
    trims++
    setImmediate(() => states.push(cluster.redisState()))
    throw new Error('ERR refused')
  }
  await admin.zadd(keys.instances, Date.now() - 60_000, 'dead-instance')
  await eventually(() => states.length >= 3, WAIT_MS, 'three heartbeats trimmed')
  t.same(states.slice(0, 3), ['ok', 'ok', 'ok'], 'the instance stays up (/ready 200)')
  t.equal(await admin.zscore(keys.instances, 'dead-instance'), null, 'the dead instance was counted out')
  t.ok(cluster.trimFailures() >= 3, `the failures are counted (${cluster.trimFailures()})`)
  t.ok(trims >= 3)
})
