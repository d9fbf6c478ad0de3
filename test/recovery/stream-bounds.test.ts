/**
 * The history over Redis (a real redis-server) under what a big deployment
 * or a hostile client brings: a resume reads the stream in pages on its own
 * connection and gives up past its byte budget; the stream is bounded in
 * bytes; a quiet history loses nothing however old `since` is; and a Redis
 * that lost its data is a new history even for the instance that knew the
 * old one.
 */
import t, { type Test } from 'tap'
import type { Redis } from 'ioredis'
import type { Outbound } from '../../lib/delivery/broker.js'
import type { HistoryLimits } from '../../lib/history/history-memory.js'
import { RedisHistory } from '../../lib/redis/history.js'
import { connection, suiteRedis, testKeys } from '../fixtures/ports.js'
import { eventually, objectId } from '../helper.js'
import type { RunningRedis } from '../servers/redis.js'

const LIMITS: HistoryLimits = { windowMs: 120_000, events: 10_000, maxBytes: 1024 ** 3 }
/** The resume is still wanted (its connection open). */
const wanted = () => true
const WAIT_MS = 30_000

interface Running {
  history: RedisHistory
  keys: ReturnType<typeof testKeys>
  admin: Redis
  /** Every event the reader delivered here, in order. */
  delivered: Outbound[]
  publish(users: readonly string[], text: string): void
  /** Waits until `n` events were delivered; returns the last one's offset. */
  delivery(n: number): Promise<string>
  /** Reads of the stream by resumes in flight: now, and the most at once. */
  reading: { now: number; most: number }
}

async function running(t: Test, redis: RunningRedis, limits: HistoryLimits): Promise<Running> {
  const keys = testKeys()
  const log = { warn: (obj: object, msg: string) => t.comment(`${msg} ${JSON.stringify(obj)}`) }
  const replayer = connection(t, redis)
  const reading = { now: 0, most: 0 }
  const xrange = replayer.xrange.bind(replayer) as (...args: unknown[]) => Promise<unknown>
  ;(replayer as unknown as { xrange: unknown }).xrange = async (...args: unknown[]) => {
    reading.most = Math.max(reading.most, ++reading.now)
    try {
      return await xrange(...args)
    } finally {
      reading.now--
    }
  }
  const history = new RedisHistory(connection(t, redis), connection(t, redis), keys, limits, log, replayer)
  const delivered: Outbound[] = []
  history.start((_audience, event) => delivered.push(event))
  t.teardown(() => history.close())
  await eventually(() => history.hearing, WAIT_MS, 'the reader reads')
  return {
    history,
    keys,
    admin: connection(t, redis),
    delivered,
    reading,
    publish: (users, text) => history.append({ users }, { type: 'note:new', payload: JSON.stringify({ type: 'note:new', data: { text } }), application: true }),
    async delivery(n) {
      await eventually(() => delivered.length >= n, WAIT_MS, `${n} events delivered`)
      return delivered[n - 1]!.offset!
    },
  }
}

const crowd = (n: number) => Array.from({ length: n }, () => objectId())
const texts = (frames: readonly string[]) => frames.map((f) => (JSON.parse(f) as { data: { text: string } }).data.text)

/** Bytes this redis-server has sent to all of its clients so far. */
async function sentBytes(admin: Redis): Promise<number> {
  return Number(/total_net_output_bytes:(\d+)/.exec(await admin.info('stats'))![1])
}

t.test('over Redis', async (t) => {
  const redis = await suiteRedis(t)

  t.test('a resume from before many large entries reads within its budget and is not recovered', async (t) => {
    const budget = 256 * 1024
    const r = await running(t, redis, { ...LIMITS, replayMaxBytes: budget })
    const alice = objectId()
    r.publish([alice], 'before')
    const since = await r.delivery(1)
    // Each a /publish to 2,000 users: about 54 KB in the stream, 5 MB in all.
    for (let i = 0; i < 100; i++) r.publish([alice, ...crowd(1_999)], `big${i}`)
    await r.delivery(101)
    const before = await sentBytes(r.admin)
    const replay = await r.history.replay(since, alice, wanted)
    const read = (await sentBytes(r.admin)) - before
    t.equal(replay.recovered, false, 'past the budget: the client refetches')
    t.ok(read < 1024 * 1024, `Redis sent ${read} bytes for it, not the 5 MB after since`)
  })

  t.test('a resume within the budget reads the stream page by page: exactly the missed events, in order', async (t) => {
    const r = await running(t, redis, LIMITS)
    const [alice, bob] = [objectId(), objectId()]
    r.publish([alice], 'before')
    const since = await r.delivery(1)
    const expected: string[] = []
    for (let i = 0; i < 450; i++) {
      const to = i % 3 === 0 ? [bob, alice] : [bob]
      if (to.includes(alice)) expected.push(`n${i}`)
      r.publish(to, `n${i}`)
    }
    r.history.append({ everyone: true, exclude: new Set([alice]) }, { type: 'x', payload: JSON.stringify({ type: 'x', data: { text: 'not alice' } }), application: true })
    r.publish([alice], 'last')
    expected.push('last')
    const end = await r.delivery(453)
    const replay = await r.history.replay(since, alice, wanted)
    t.equal(replay.recovered, true)
    t.same(replay.recovered && texts(replay.frames), expected, `${expected.length} events, in order`)
    t.equal(replay.recovered && replay.upTo, end, 'up to the end of the stream')
  })

  t.test('a reconnect storm: resumes read the stream a few at a time, and each gets its events', async (t) => {
    const r = await running(t, redis, LIMITS)
    const users = crowd(20)
    r.publish(users, 'before')
    const since = await r.delivery(1)
    for (let i = 0; i < 300; i++) r.publish(users, `n${i}`)
    await r.delivery(301)
    const replays = await Promise.all(users.map((user) => r.history.replay(since, user, wanted)))
    t.ok(replays.every((replay) => replay.recovered && replay.frames.length === 300), 'twenty resumes, each recovered with all 300 events')
    t.ok(r.reading.most >= 1 && r.reading.most <= 4, `at most 4 reads of the stream at once (${r.reading.most})`)
  })

  t.test('the stream is bounded in bytes (RECOVERY_MAX_BYTES)', async (t) => {
    const maxBytes = 4 * 1024 * 1024
    const r = await running(t, redis, { ...LIMITS, maxBytes })
    const alice = objectId()
    // Each a /publish to 500 users: about 14 KB in the stream, 5.6 MB in all; in batches the reader keeps up with.
    for (let batch = 0; batch < 8; batch++) {
      for (let i = 0; i < 50; i++) r.publish([alice, ...crowd(499)], `big${batch}-${i}`)
      await r.delivery((batch + 1) * 50)
    }
    const length = await r.admin.xlen(r.keys.history)
    const bytes = Number(await r.admin.call('MEMORY', 'USAGE', r.keys.history, 'SAMPLES', '0'))
    t.ok(length < 400 && length >= 200, `${length} of 400 entries of about 14 KB kept`)
    t.ok(bytes < 1.5 * maxBytes, `the stream takes ${bytes} bytes, about the bound of ${maxBytes}`)
  })

  t.test('a quiet history loses nothing: an old since, even trimmed itself, recovers when nothing after it was', async (t) => {
    const windowMs = 300
    const r = await running(t, redis, { ...LIMITS, windowMs })
    const alice = objectId()
    r.publish([alice], 'only')
    const only = await r.delivery(1)
    const onlyMs = Number(only.split('-')[1])
    // The window is a duration: it passes, then the heartbeat's trim drops `only` itself.
    await eventually(() => Date.now() - onlyMs > windowMs, WAIT_MS, 'the window passed')
    await r.admin.xtrim(r.keys.history, 'MINID', String(onlyMs + 1))
    t.equal(await r.admin.xlen(r.keys.history), 0, 'since itself is trimmed')
    t.same(await r.history.replay(only, alice, wanted), { recovered: true, frames: [], upTo: only }, 'nothing after since was trimmed: recovered')
    r.publish([alice], 'next')
    const next = await r.delivery(2)
    const one = await r.history.replay(only, alice, wanted)
    t.same(one.recovered && texts(one.frames), ['next'], 'the one missed event')
    await r.admin.xtrim(r.keys.history, 'MINID', String(Number(next.split('-')[1]) + 1))
    t.equal((await r.history.replay(only, alice, wanted)).recovered, false, 'an event after since was trimmed: not recovered')
    const [epoch, ms, seq] = only.split('-')
    t.equal((await r.history.replay(`${epoch}-${ms}-${Number(seq) + 7}`, alice, wanted)).recovered, false, 'an id the stream never gave')
  })

  t.test('a Redis that lost its data is another history, even for the instance that knew the old one', async (t) => {
    const r = await running(t, redis, LIMITS)
    const alice = objectId()
    await eventually(() => r.history.end().endsWith('-0-0'), WAIT_MS, 'the empty history')
    const start = r.history.end()
    r.publish([alice], 'lost')
    await r.delivery(1)
    // What a Redis restarted empty looks like to this history.
    await r.admin.del(r.keys.history, r.keys.historyEpoch, r.keys.historyCount)
    r.publish([alice], 'after')
    await r.delivery(2)
    t.not(r.delivered[1]!.offset!.split('-')[0], start.split('-')[0], 'a new epoch')
    t.equal((await r.history.replay(start, alice, wanted)).recovered, false, '"lost" is gone: not recovered')
  })
})
