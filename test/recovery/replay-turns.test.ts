/**
 * The turns resumes take to read the shared history: bounded in how many
 * wait and for how long (a queue without bound is memory without bound),
 * and a resume that missed nothing takes none (a real redis-server; the
 * resumes' connection to it goes through a relay the test stalls, so every
 * turn is held by a read that does not come back).
 */
import t from 'tap'
import { Turns } from '../../lib/history/turns.js'
import { RedisHistory } from '../../lib/redis/history.js'
import { Redis } from 'ioredis'
import { connection, suiteRedis, testKeys } from '../fixtures/ports.js'
import { eventually, objectId } from '../helper.js'
import { stallableRelay } from '../faults/tools.js'
import { CONCURRENT_REPLAYS } from '../../lib/redis/history-replay.js'

const LIMITS = { windowMs: 120_000, events: 10_000, maxBytes: 1024 ** 3 }
const WAIT_MS = 30_000
const never = () => new Promise<never>(() => {})

t.test('past the waiting count, a task is refused at once; one that waits too long is refused then', async (t) => {
  const turns = new Turns(1, 2, WAIT_MS)
  void turns.run(never, 'refused')
  const waiting = [turns.run(async () => 'ran', 'refused'), turns.run(async () => 'ran', 'refused')]
  t.equal(turns.waiting, 2)
  t.equal(await turns.run(async () => 'ran', 'refused'), 'refused', 'a third waiting one is refused, not queued')
  t.equal(turns.waiting, 2)

  const short = new Turns(1, 10, 20)
  void short.run(never, 'refused')
  t.equal(await short.run(async () => 'ran', 'refused'), 'refused', 'the turn never came: refused once the wait is over')
  t.equal(short.waiting, 0, 'and no longer waiting')
  void waiting
})

t.test('turns are handed over in order', async (t) => {
  const turns = new Turns(1, 10, WAIT_MS)
  let release = () => {}
  const first = turns.run(() => new Promise<string>((resolve) => (release = () => resolve('first'))), 'refused')
  const order: string[] = []
  const rest = ['a', 'b', 'c'].map((name) => turns.run(async () => void order.push(name), 'refused'))
  release()
  await Promise.all([first, ...rest])
  t.same(order, ['a', 'b', 'c'])
})

t.test('a resume that missed nothing is answered at once, while every turn is held by a hung read', async (t) => {
  const redis = await suiteRedis(t)
  const relay = await stallableRelay(t, redis.url)
  const replayer = new Redis(relay.url)
  t.teardown(() => replayer.disconnect())
  await replayer.ping()
  const keys = testKeys()
  const log = { warn: (obj: object, msg: string) => t.comment(`${msg} ${JSON.stringify(obj)}`) }
  const history = new RedisHistory(connection(t, redis), connection(t, redis), keys, LIMITS, log, replayer)
  const offsets: string[] = []
  history.start((_audience, event) => offsets.push(event.offset!))
  t.teardown(() => history.close())
  await eventually(() => history.hearing, WAIT_MS, 'the reader reads')
  const alice = objectId()
  for (const text of ['a', 'b']) history.append({ users: [alice] }, { type: 'note:new', payload: JSON.stringify({ type: 'note:new', data: { text } }), application: true })
  await eventually(() => offsets.length === 2, WAIT_MS, 'both delivered')
  relay.stall()
  t.teardown(() => relay.flow())
  // Each of these holds a turn: its read of the stream never comes back.
  for (let i = 0; i < CONCURRENT_REPLAYS + 2; i++) void history.replay(offsets[0]!, alice, () => true)
  t.same(await history.replay(offsets[1]!, alice, () => true), { recovered: true, frames: [], upTo: offsets[1] }, 'since is the end: recovered, nothing to replay, no turn taken')
})

t.test('the replay of a connection that closed stops reading the stream at its next page', async (t) => {
  const redis = await suiteRedis(t)
  const keys = testKeys()
  const log = { warn: (obj: object, msg: string) => t.comment(`${msg} ${JSON.stringify(obj)}`) }
  const admin = connection(t, redis)
  const history = new RedisHistory(connection(t, redis), connection(t, redis), keys, LIMITS, log, connection(t, redis))
  let delivered = 0
  let since = ''
  history.start((_audience, event) => {
    if (delivered++ === 0) since = event.offset!
  })
  t.teardown(() => history.close())
  await eventually(() => history.hearing, WAIT_MS, 'the reader reads')
  const alice = objectId()
  // 400 events of 4 KB after since: about 1.6 MB, several pages of the stream.
  const text = 'x'.repeat(4096)
  for (let i = 0; i <= 400; i++) history.append({ users: [alice] }, { type: 'note:new', payload: JSON.stringify({ type: 'note:new', data: { text, i } }), application: true })
  await eventually(() => delivered === 401, WAIT_MS, 'all delivered')
  const xranges = async () => Number(/cmdstat_xrange:calls=(\d+)/.exec(String(await admin.info('commandstats')))?.[1] ?? 0)
  const read = await xranges()
  const whole = await history.replay(since, alice, () => true)
  t.equal(whole.recovered && whole.frames.length, 400, 'a resume still wanted reads all 400')
  const pages = (await xranges()) - read
  t.ok(pages >= 4, `in ${pages} reads of the stream`)
  // Its connection closes after the turn came (the stream's state is read), or after the first page.
  const cutAfter = async (checks: number) => {
    let asked = 0
    const before = await xranges()
    const replay = await history.replay(since, alice, () => asked++ < checks)
    return { replay, reads: (await xranges()) - before }
  }
  const atTurn = await cutAfter(1)
  const afterPage = await cutAfter(2)
  t.same([atTurn.replay, afterPage.replay], [{ recovered: false }, { recovered: false }], 'not recovered: nobody to replay to')
  t.equal(afterPage.reads - atTurn.reads, 1, 'one page read after the state, no more')
  t.ok(afterPage.reads < pages, `${afterPage.reads} reads, not the ${pages} of a whole replay`)
  const none = await xranges()
  t.same(await history.replay(since, alice, () => false), { recovered: false }, 'closed before its turn')
  t.equal((await xranges()) - none, 0, 'nothing read')
})

t.test('a waiting task no longer wanted gives its place up: abandoned resumes cannot fill the queue', async (t) => {
  const turns = new Turns(1, 2, WAIT_MS)
  let release = () => {}
  const holder = turns.run(() => new Promise<string>((resolve) => (release = () => resolve('held'))), 'refused')
  let open = true
  const abandoned = [turns.run(async () => 'ran', 'refused', () => open), turns.run(async () => 'ran', 'refused', () => open)]
  t.equal(turns.waiting, 2, 'the queue is full')
  open = false // both connections closed
  const next = turns.run(async () => 'ran', 'refused')
  t.same(await Promise.all(abandoned), ['refused', 'refused'], 'the abandoned ones are refused')
  t.equal(turns.waiting, 1, 'and a new one waits in their place')
  release()
  t.same(await Promise.all([holder, next]), ['held', 'ran'], 'it gets the turn')
})
