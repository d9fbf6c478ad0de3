/**
 * A reader that falls behind the shared history (a real redis-server): when
 * entries it had not read yet were trimmed, it says so (how many), instead
 * of going on silently from the first entry left; a jump in the count with
 * nothing trimmed is no gap. Then the instance closes its connections with
 * 1012, so that they resume and are told what is gone.
 */
import t, { type Test } from 'tap'
import type { Redis } from 'ioredis'
import type { Outbound } from '../../lib/delivery/broker.js'
import { RedisHistory } from '../../lib/redis/history.js'
import { connection, suiteRedis, testKeys } from '../fixtures/ports.js'
import { build, eventually, ids, objectId } from '../helper.js'
import { closeEveryConnectionOnGap } from '../../lib/redis/history-gap.js'
import type { RunningRedis } from '../servers/redis.js'

const LIMITS = { windowMs: 120_000, events: 10_000, maxBytes: 1024 ** 3 }
const WAIT_MS = 30_000

/** A history whose reader can be held before its next read. */
async function heldReader(t: Test, redis: RunningRedis, limits = LIMITS) {
  const keys = testKeys()
  const reader = connection(t, redis)
  let gate: Promise<void> | null = null
  let open = () => {}
  const xread = reader.xread.bind(reader) as (...args: unknown[]) => Promise<unknown>
  ;(reader as unknown as { xread: unknown }).xread = async (...args: unknown[]) => {
    if (gate) await gate
    return xread(...args)
  }
  const gaps: number[] = []
  const log = { warn: (obj: object, msg: string) => t.comment(`${msg} ${JSON.stringify(obj)}`) }
  const history = new RedisHistory(connection(t, redis), reader, keys, limits, log, connection(t, redis), (lost) => gaps.push(lost))
  const delivered: Outbound[] = []
  history.start((_audience, event) => delivered.push(event))
  t.teardown(() => {
    open()
    history.close()
  })
  await eventually(() => history.hearing, WAIT_MS, 'the reader reads')
  const alice = objectId()
  return {
    history,
    keys,
    gaps,
    delivered,
    admin: connection(t, redis) as Redis,
    publish: (text: string) => history.append({ users: [alice] }, { type: 'note:new', payload: JSON.stringify({ type: 'note:new', data: { text } }), application: true }),
    delivery: (n: number) => eventually(() => delivered.length >= n, WAIT_MS, `${n} events delivered`),
    /** From its next read on, the reader waits until `release`. */
    hold() {
      gate = new Promise((resolve) => (open = resolve))
    },
    release() {
      gate = null
      open()
    },
  }
}

const text = (event: Outbound) => (JSON.parse(event.payload) as { data: { text: string } }).data.text

t.test('a reader behind the trimming', async (t) => {
  const redis = await suiteRedis(t)

  t.test('entries trimmed before it read them are a gap it reports, with how many', async (t) => {
    const r = await heldReader(t, redis)
    r.publish('a')
    await r.delivery(1)
    r.hold()
    // The read in flight returns with `b`; the next one waits.
    r.publish('b')
    await r.delivery(2)
    for (let i = 0; i < 20; i++) r.publish(`c${i}`)
    await eventually(async () => (await r.admin.xlen(r.keys.history)) === 22, WAIT_MS, 'all appended')
    await r.admin.xtrim(r.keys.history, 'MAXLEN', '=', 5)
    r.release()
    await r.delivery(7)
    t.same(r.delivered.slice(2).map(text), ['c15', 'c16', 'c17', 'c18', 'c19'], 'it goes on from what is left')
    t.same(r.gaps, [15], 'and says fifteen events were lost')
  })

  t.test('a reader behind by entries still in the stream misses none and reports nothing', async (t) => {
    const r = await heldReader(t, redis)
    r.publish('a')
    await r.delivery(1)
    r.hold()
    r.publish('b')
    await r.delivery(2)
    for (let i = 0; i < 20; i++) r.publish(`c${i}`)
    await eventually(async () => (await r.admin.xlen(r.keys.history)) === 22, WAIT_MS, 'all appended')
    r.release()
    await r.delivery(22)
    t.same(r.gaps, [])
  })

  t.test('the byte bound wins over a live reader: past it, entries it had not read are trimmed, and it is a gap', async (t) => {
    // About 100 entries' worth of bytes: the hard length is FLOOR_STREAM_LENGTH.
    const r = await heldReader(t, redis, { ...LIMITS, maxBytes: 1000 })
    r.publish('a')
    await r.delivery(1)
    r.hold()
    r.publish('b')
    await r.delivery(2)
    // This reader, alive, is at `b`: appends would keep everything after it, but not past the byte bound.
    await r.admin.zadd(r.keys.instances, Date.now(), 'me')
    await r.history.shareReadPosition('me', Date.now() - 60_000)
    t.equal(r.history.oldestReader, Number(r.delivered[1]!.offset!.split('-').at(-1)), 'the reader\'s place is known')
    for (let i = 0; i < 400; i++) r.publish(`c${i}`)
    await eventually(async () => Number(await r.admin.get(r.keys.historyCount)) === 402, WAIT_MS, 'all appended')
    t.ok((await r.admin.xlen(r.keys.history)) < 300, 'trimmed to about the byte bound')
    r.release()
    await r.delivery(3)
    t.equal(r.gaps.length, 1, 'the reader reports the gap (its instance closes its connections with 1012)')
  })

  t.test('a reader of an instance no longer alive holds nothing back: its place is dropped', async (t) => {
    const r = await heldReader(t, redis)
    r.publish('a')
    await r.delivery(1)
    await r.admin.zadd(r.keys.instances, Date.now(), 'me', Date.now() - 120_000, 'gone')
    await r.admin.hset(r.keys.historyReaders, 'gone', '1-1', 'unknown', '1-1')
    await r.history.shareReadPosition('me', Date.now() - 60_000)
    t.equal(r.history.oldestReader, Number(r.delivered[0]!.offset!.split('-').at(-1)), 'the oldest live reader is this one')
    t.same(await r.admin.hkeys(r.keys.historyReaders), ['me'], 'the places of the dead and of the unknown are dropped')
  })

  t.test('a jump in the count with nothing trimmed (an append that took a number and failed) is no gap', async (t) => {
    const r = await heldReader(t, redis)
    r.publish('a')
    await r.delivery(1)
    await r.admin.incrby(r.keys.historyCount, 5)
    r.publish('b')
    await r.delivery(2)
    t.same(r.delivered.map(text), ['a', 'b'])
    t.same(r.gaps, [])
  })
})

t.test('on a gap every connection of the instance is closed with 1012, to resume', async (t) => {
  const app = await build(t)
  const [alice, bob] = ids()
  const clients = [await app.connect(alice), await app.connect(alice), await app.connect(bob)]
  let lost = 0
  const warned: string[] = []
  closeEveryConnectionOnGap(app.app.wsRegistry, { warn: (_obj, msg) => warned.push(msg) }, (n) => (lost += n))(15)
  t.same(await Promise.all(clients.map(async (c) => (await c.closed).code)), [1012, 1012, 1012], 'each closed: service restart, try again')
  t.equal(lost, 15, 'the lost events counted')
  t.equal(warned.length, 1, 'one log line for the gap, not one per connection')
})
