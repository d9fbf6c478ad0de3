/**
 * Conformance suite for the `TypingState` port (lib/typing/typing-state.ts):
 * one suite, given a factory of nodes that share one state, runs on the
 * in-memory state and on the Redis state over a real redis-server. What it
 * checks is what members of a channel notice: a typist announced once however
 * often it is renewed, from whichever instance; a stop announced only when it
 * ends something; an expiry counted from the last renewal; a closed
 * connection ending only the typing it owns; and TYPING_RATE_PER_SEC held
 * per user across instances where the state is shared by many (Redis), while
 * one instance's state leaves the limit to that instance's own bucket.
 *
 * The memory adapter models two instances by being shared: it is the one
 * state both "nodes" hold, as Redis is for real instances. Times are passed
 * in (the port takes `now`), so nothing here waits on a clock, except the
 * rate's refill, which runs on Redis's clock and is polled for.
 */
import t, { type Test } from 'tap'
import type { TypingState } from '../../lib/typing/typing-state.js'
import { MemoryTypingState } from '../../lib/typing/typing-state-memory.js'
import { RedisTypingState } from '../../lib/redis/typing-state.js'
import { eventually, objectId } from '../helper.js'
import { connection, suiteRedis, testKeys } from '../fixtures/ports.js'

const TIMEOUT_MS = 3000
/** Far above what the other checks send, so that only the rate's own checks meet it. */
const UNLIMITED_RATE = 1000
/** `count` instances sharing one typing state, with TYPING_RATE_PER_SEC `ratePerSec`. */
type TypingFactory = (t: Test, count: number, ratePerSec?: number) => Promise<TypingState[]>

/** The owner a connection of an instance is known by (lib/typing/typing.ts: `instance:connection`). */
const owner = (instance: string, connection = 1) => `${instance}:${connection}`

/** `sharedRate`: the state is shared by many instances and holds the user's rate across them. */
function typingStateSuite(t: Test, makeNodes: TypingFactory, sharedRate: boolean) {
  t.test('a start is announced once; a repeat, from the same connection or another instance, only renews it', async (t) => {
    const [a, b] = await makeNodes(t, 2)
    const [channel, ada] = [objectId(), objectId()]
    t.equal(await a!.start(channel, ada, owner('A'), 1000), 'started', 'the first start is new')
    t.equal(await a!.start(channel, ada, owner('A'), 2000), 'renewed', 'a repeat on the same connection renews')
    t.equal(await b!.start(channel, ada, owner('B'), 3000), 'renewed', 'a start from another instance renews')
    t.equal(await a!.start(channel, ada, owner('A', 2), 4000), 'renewed', 'a start from another connection of the same instance renews')
  })

  t.test('a stop ends it once, from any instance; a stop of nothing announces nothing', async (t) => {
    const [a, b] = await makeNodes(t, 2)
    const [channel, ada] = [objectId(), objectId()]
    t.equal(await a!.stop(channel, ada), false, 'nobody was typing: nothing to announce')
    await a!.start(channel, ada, owner('A'), 1000)
    t.equal(await b!.stop(channel, ada), true, 'a stop from another instance ends the typing begun on A')
    t.equal(await a!.stop(channel, ada), false, 'a second stop, on A, finds nothing')
    t.equal(await b!.stop(channel, ada), false, 'nor on B')
    t.equal(await a!.start(channel, ada, owner('A'), 2000), 'started', 'a start after the stop is new again')
  })

  t.test('users and channels are kept apart', async (t) => {
    const [a, b] = await makeNodes(t, 2)
    const [general, random, ada, grace] = [objectId(), objectId(), objectId(), objectId()]
    t.equal(await a!.start(general, ada, owner('A'), 1000), 'started')
    t.equal(await b!.start(random, ada, owner('B'), 1000), 'started', 'the same user in another channel is another typist')
    t.equal(await b!.start(general, grace, owner('B'), 1000), 'started', 'another user in the same channel too')
    t.equal(await a!.stop(general, ada), true)
    t.equal(await a!.stop(random, ada), true, 'stopping one left the other on')
    t.equal(await a!.stop(general, grace), true)
  })

  t.test('the owner’s expiry check: renewed before the time, ended at it, and then over for everyone', async (t) => {
    const [a, b] = await makeNodes(t, 2)
    const [channel, ada] = [objectId(), objectId()]
    await a!.start(channel, ada, owner('A'), 1000)
    t.same(await a!.expire(channel, ada, owner('A'), 999), { outcome: 'renewed', expiresAt: 1000 }, 'not due yet: due again at its expiry')
    t.same(await a!.expire(channel, ada, owner('A'), 1000), { outcome: 'ended' }, 'due: ended, for the owner to announce')
    t.equal(await b!.stop(channel, ada), false, 'a stop after the expiry announces nothing')
    t.equal(await b!.start(channel, ada, owner('B'), 5000), 'started', 'a start after the expiry is new')
  })

  t.test('a renewal from another instance moves the expiry the owner sees', async (t) => {
    const [a, b] = await makeNodes(t, 2)
    const [channel, ada] = [objectId(), objectId()]
    await a!.start(channel, ada, owner('A'), 1000)
    await b!.start(channel, ada, owner('B'), 1000 + TIMEOUT_MS)
    t.same(
      await a!.expire(channel, ada, owner('A'), 1000),
      { outcome: 'renewed', expiresAt: 1000 + TIMEOUT_MS },
      'at the first expiry the owner finds the renewal made on B',
    )
    t.same(await b!.expire(channel, ada, owner('B'), 1000 + TIMEOUT_MS), { outcome: 'gone' }, 'B renewed it but does not own it: not B’s to end')
    t.same(await a!.expire(channel, ada, owner('A'), 1000 + TIMEOUT_MS), { outcome: 'ended' }, 'the owner ends it at the renewed time')
  })

  t.test('an expiry check after a stop elsewhere finds it gone: the stop was announced already', async (t) => {
    const [a, b] = await makeNodes(t, 2)
    const [channel, ada] = [objectId(), objectId()]
    await a!.start(channel, ada, owner('A'), 1000)
    t.equal(await b!.stop(channel, ada), true)
    t.same(await a!.expire(channel, ada, owner('A'), 1000), { outcome: 'gone' })
  })

  t.test('a closed connection ends only the typing it owns', async (t) => {
    const [a, b] = await makeNodes(t, 2)
    const [channel, ada] = [objectId(), objectId()]
    await a!.start(channel, ada, owner('A'), 1000)
    await b!.start(channel, ada, owner('B'), 2000)
    t.equal(await b!.endOwned(channel, ada, owner('B')), false, 'the connection on B only renewed it: its close ends nothing')
    t.equal(await a!.endOwned(channel, ada, owner('A', 2)), false, 'nor does another connection on A')
    t.equal(await a!.stop(channel, ada), true, 'so it is still on')
    await a!.start(channel, ada, owner('A'), 3000)
    t.equal(await a!.endOwned(channel, ada, owner('A')), true, 'the owner’s close ends it, to be announced')
    t.equal(await b!.stop(channel, ada), false, 'and it is over for everyone')
    t.equal(await a!.endOwned(channel, ada, owner('A')), false, 'a second close ends nothing')
  })

  if (sharedRate) {
    t.test('past the rate, a user’s start or stop, from any instance, is refused and changes nothing; the rate comes back by itself', async (t) => {
      // Slow to refill (a token every 500 ms), so that the refusals below come before any token is back.
      const RATE = 2
      const [a, b] = await makeNodes(t, 2, RATE)
      const [channel, ada, grace] = [objectId(), objectId(), objectId()]
      t.equal(await a!.start(channel, ada, owner('A'), 1000), 'started')
      t.equal(await b!.start(channel, ada, owner('B'), 2000), 'renewed', `${RATE} in all, on two instances: each admitted`)
      t.equal(await a!.start(channel, ada, owner('A'), 9000), 'limited', 'one more start, on either instance: refused')
      t.equal(await b!.stop(channel, ada), 'limited', 'and a stop: refused')
      t.same(await a!.expire(channel, ada, owner('A'), 1999), { outcome: 'renewed', expiresAt: 2000 }, 'still on, the refused start did not move its expiry')
      t.equal(await a!.start(channel, grace, owner('A'), 1000), 'started', 'another user has a bucket of their own')
      const stopped = await eventually(async () => {
        const outcome = await b!.stop(channel, ada)
        return outcome === 'limited' ? false : { outcome }
      }, 3000, 'a token comes back')
      t.same(stopped, { outcome: true }, 'once a token is back the stop goes through, and ends the typing the refused one left on')
    })
  } else {
    t.test('one instance’s state refuses nothing: that instance’s own bucket is the whole limit', async (t) => {
      const [a] = await makeNodes(t, 1, 1)
      const [channel, ada] = [objectId(), objectId()]
      const outcomes = []
      for (let i = 0; i < 10; i++) outcomes.push(await a!.start(channel, ada, owner('A'), 1000 + i), await a!.stop(channel, ada))
      t.same(outcomes, Array.from({ length: 10 }, () => ['started', true]).flat(), 'every start and stop goes through')
    })
  }
}

t.test('TypingState: memory', async (t) => {
  typingStateSuite(t, async (_t, count) => {
    const shared = new MemoryTypingState()
    return Array.from({ length: count }, () => shared)
  }, false)
})

t.test('TypingState: Redis', async (t) => {
  const redis = await suiteRedis(t)
  typingStateSuite(t, async (t, count, ratePerSec = UNLIMITED_RATE) => {
    const keys = testKeys()
    return Array.from({ length: count }, () => new RedisTypingState(connection(t, redis), keys, TIMEOUT_MS, ratePerSec))
  }, true)

  // The scripts run by their SHA1 (lib/redis/lua.ts): a Redis that forgot them (SCRIPT FLUSH, a failover to a
  // server that never had them) answers NOSCRIPT, and the text must go again, on a connection that already ran them.
  t.test('a Redis that forgot its scripts still starts, renews and stops typing on a connection that had run them', async (t) => {
    const state = new RedisTypingState(connection(t, redis), testKeys(), TIMEOUT_MS, UNLIMITED_RATE)
    const admin = connection(t, redis)
    const [channel, ada] = [objectId(), objectId()]
    t.equal(await state.start(channel, ada, owner('A'), 1000), 'started', 'started before the flush')
    await admin.script('FLUSH')
    t.equal(await state.start(channel, ada, owner('A'), 2000), 'renewed', 'renewed after the flush: the same state, not a fallback')
    await admin.script('FLUSH')
    const stops = await Promise.all([state.stop(channel, ada), state.stop(channel, ada)])
    t.same(stops.sort(), [false, true], 'two stops at once after a flush: one ends it, the other finds nothing')
    t.equal(await state.start(channel, ada, owner('A'), 3000), 'started', 'a start after the stop is new again')
  })
})
