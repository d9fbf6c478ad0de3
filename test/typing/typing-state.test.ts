/**
 * Conformance suite for the `TypingState` port (lib/typing/typing-state.ts):
 * one suite, given a factory of nodes that share one state, runs on the
 * in-memory state and on the Redis state over a real redis-server. What it
 * checks is what members of a channel notice: a typist announced once however
 * often it is renewed, from whichever instance; a stop announced only when it
 * ends something; an expiry counted from the last renewal; a closed
 * connection ending only the typing it owns.
 *
 * The memory adapter models two instances by being shared: it is the one
 * state both "nodes" hold, as Redis is for real instances. Times are passed
 * in (the port takes `now`), so nothing here waits on a clock.
 */
import t, { type Test } from 'tap'
import type { TypingState } from '../../lib/typing/typing-state.js'
import { MemoryTypingState } from '../../lib/typing/typing-state-memory.js'
import { RedisTypingState } from '../../lib/redis/typing-state.js'
import { objectId } from '../helper.js'
import { connection, suiteRedis, testKeys } from '../fixtures/ports.js'

const TIMEOUT_MS = 3000
/** `count` instances sharing one typing state. */
type TypingFactory = (t: Test, count: number) => Promise<TypingState[]>

/** The owner a connection of an instance is known by (lib/typing/typing.ts: `instance:connection`). */
const owner = (instance: string, connection = 1) => `${instance}:${connection}`

function typingStateSuite(t: Test, makeNodes: TypingFactory) {
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
}

t.test('TypingState: memory', async (t) => {
  typingStateSuite(t, async (_t, count) => {
    const shared = new MemoryTypingState()
    return Array.from({ length: count }, () => shared)
  })
})

t.test('TypingState: Redis', async (t) => {
  const redis = await suiteRedis(t)
  typingStateSuite(t, async (t, count) => {
    const keys = testKeys()
    return Array.from({ length: count }, () => new RedisTypingState(connection(t, redis), keys, TIMEOUT_MS))
  })
})
