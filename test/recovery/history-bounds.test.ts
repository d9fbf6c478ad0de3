/**
 * The history in process (one instance) under load a hostile client or a
 * big deployment brings: a resume's cost does not grow with the audiences'
 * size, the kept history has a byte bound, a quiet history loses nothing
 * however old `since` is, and an offset is one the history gave, time and
 * sequence together.
 */
import t from 'tap'
import { MemoryHistory, type HistoryLimits } from '../../lib/history/history-memory.js'
import { objectId } from '../helper.js'

const LIMITS: HistoryLimits = { windowMs: 120_000, events: 10_000, maxBytes: 64 * 1024 * 1024 }

/** A clock the test moves. */
function clock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

function payload(text: string): string {
  return JSON.stringify({ type: 'note:new', data: { text } })
}

/** `count` user ids, as an array that counts how many of its members are read one by one. */
function countedUsers(count: number, reads: { n: number }): string[] {
  const users = Array.from({ length: count }, () => objectId())
  return new Proxy(users, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads.n++
      return Reflect.get(target, key, receiver)
    },
  })
}

t.test('a resume reads no audience member by member: its cost does not grow with the audiences', async (t) => {
  const history = new MemoryHistory({ ...LIMITS, maxBytes: 1024 ** 3 })
  const since = history.end()
  const reads = { n: 0 }
  const alice = objectId()
  const EVENTS = 500
  for (let i = 0; i < EVENTS; i++) {
    const users = countedUsers(1_000, reads)
    if (i % 10 === 0) users.push(alice)
    history.append({ users }, payload(`e${i}`))
  }
  reads.n = 0
  const replay = await history.replay(since, alice)
  t.equal(replay.recovered, true)
  t.equal(replay.recovered && replay.frames.length, EVENTS / 10, 'the events alice was named in')
  t.equal(reads.n, 0, `no audience read member by member (was up to ${EVENTS} × 1,000)`)
})

t.test('the kept history is bounded in bytes: the oldest events go, and a resume from before them is not recovered', async (t) => {
  const maxBytes = 1024 * 1024
  const history = new MemoryHistory({ ...LIMITS, maxBytes })
  const alice = objectId()
  const offsets: string[] = []
  // Each a /publish to 2,000 users of its own: about 128 KB estimated.
  for (let i = 0; i < 50; i++) offsets.push(history.append({ users: [alice, ...Array.from({ length: 1_999 }, () => objectId())] }, payload(`e${i}`)).offset)
  t.ok(history.bytes <= maxBytes, `about ${history.bytes} bytes kept, within ${maxBytes}`)
  t.ok(history.size < 50 && history.size >= maxBytes / (2_000 * 64) - 2, `${history.size} of 50 events kept`)
  t.equal((await history.replay(offsets[0]!, alice)).recovered, false, 'an event after since was dropped')
  const recent = await history.replay(offsets[47]!, alice)
  t.equal(recent.recovered && recent.frames.length, 2, 'a recent since recovers')

  // A channel's cached member list is one list for all of its events: counted once.
  const shared = new MemoryHistory({ ...LIMITS, maxBytes })
  const members = [alice, ...Array.from({ length: 1_999 }, () => objectId())]
  const start = shared.end()
  for (let i = 0; i < 100; i++) shared.append({ users: members, channel: 'c' }, payload(`c${i}`))
  t.equal(shared.size, 100, 'the shared list does not count a hundred times')
  const all = await shared.replay(start, alice)
  t.equal(all.recovered && all.frames.length, 100)

  // A single event larger than the bound is not kept at all.
  const tiny = new MemoryHistory({ ...LIMITS, maxBytes: 10_000 })
  const before = tiny.end()
  tiny.append({ users: members }, payload('huge'))
  t.equal(tiny.size, 0)
  t.equal((await tiny.replay(before, alice)).recovered, false)
})

t.test('a quiet history loses nothing: an old since with no event dropped after it recovers', async (t) => {
  const time = clock()
  const history = new MemoryHistory(LIMITS, time.now)
  const alice = objectId()
  const { offset: only } = history.append({ users: [alice] }, payload('only'))
  // Three quiet minutes (the window is two): `connected` hands out the last event's offset.
  time.advance(180_000)
  t.equal(history.end(), only, 'connected gives the offset of the one event')
  time.advance(5_000)
  const quiet = await history.replay(only, alice)
  t.same(quiet, { recovered: true, frames: [], upTo: only }, 'nothing after since was dropped: recovered, nothing to replay')
  history.append({ users: [alice] }, payload('next'))
  time.advance(1_000)
  const one = await history.replay(only, alice)
  t.equal(one.recovered && one.frames.length, 1, 'the one missed event')
  // The missed event itself gets older than the window: dropped, not recovered.
  time.advance(120_001)
  t.equal((await history.replay(only, alice)).recovered, false, 'an event after since was dropped by age')
})

t.test('an offset whose sequence is real but whose time is not is not one this history gave', async (t) => {
  const time = clock()
  const history = new MemoryHistory(LIMITS, time.now)
  const alice = objectId()
  const offsets: string[] = []
  for (let i = 0; i < 3; i++) {
    offsets.push(history.append({ users: [alice] }, payload(`e${i}`)).offset)
    time.advance(10)
  }
  const [epoch, ms, seq] = offsets[1]!.split('-')
  t.equal((await history.replay(offsets[1]!, alice)).recovered, true, 'the real offset recovers')
  for (const wrong of [Number(ms) - 1, Number(ms) + 1]) {
    t.equal((await history.replay(`${epoch}-${wrong}-${seq}`, alice)).recovered, false, `time ${wrong} with sequence ${seq}`)
  }
  const [, lastMs, lastSeq] = offsets[2]!.split('-')
  t.equal((await history.replay(`${epoch}-${Number(lastMs) - 5}-${lastSeq}`, alice)).recovered, false, 'the last sequence with another time')
})
