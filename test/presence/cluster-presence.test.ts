/**
 * Conformance suite for the `ClusterPresence` port
 * (lib/presence/cluster-presence.ts): one suite, given a factory of nodes,
 * runs on the in-memory presence and on the Redis presence over a real
 * redis-server. What it checks is what other users notice: a user comes
 * online once (on the first connection anywhere) and goes offline once (on
 * the last), keeps the state they chose while connected anywhere, and comes
 * back fresh after leaving.
 *
 * The memory adapter cannot model two instances: it is one instance's own
 * view ("its first is everyone's first"), and two of them share nothing. So
 * the cases across instances run on Redis only (`nodes` in the factory says
 * how many an adapter can model). The Redis-only checks after the suite are
 * about counting out a dead instance, which the port reports through
 * `onChange`.
 */
import t, { type Test } from 'tap'
import type { ClusterPresence, Departed } from '../../lib/presence/cluster-presence.js'
import { MemoryClusterPresence } from '../../lib/presence/cluster-presence-memory.js'
import { RedisClusterPresence } from '../../lib/redis/presence.js'
import { objectId } from '../helper.js'
import type { RunningRedis } from '../servers/redis.js'
import { acrossInstances, connection, suiteRedis, testKeys } from '../fixtures/ports.js'

interface PresenceFactory {
  /** How many instances the adapter can model sharing one presence. */
  nodes: number
  make(t: Test, count: number): Promise<ClusterPresence[]>
}

function clusterPresenceSuite(t: Test, factory: PresenceFactory) {
  const make = (t: Test, count: number) => factory.make(t, count)
  /** A case across instances: skipped, and said so, where the adapter cannot model them. */
  const acrossNodes = (name: string, fn: (t: Test) => Promise<void>) => acrossInstances(t, factory.nodes, name, fn)

  t.test('the first connection brings a user online with no state yet; the last takes them offline with theirs', async (t) => {
    const [a] = await make(t, 1)
    const ada = objectId()
    t.same(await a!.join(ada), { first: true, presence: undefined }, 'first anywhere: announce them online')
    t.same(await a!.presences([ada]), [undefined], 'no state chosen yet')
    t.equal(await a!.choose(ada, 'dnd', Date.now()), undefined, 'the state before the first choice: none')
    t.equal(await a!.choose(ada, 'idle', Date.now()), 'dnd', 'each choice answers the one before')
    t.same(await a!.presences([ada]), ['idle'])
    t.same(await a!.leave(ada), { last: true, presence: 'idle' }, 'the last connection: announce them offline, knowing they were idle')
    t.same(await a!.presences([ada]), [undefined], 'offline now')
  })

  t.test('a user who comes back after leaving starts fresh', async (t) => {
    const [a] = await make(t, 1)
    const ada = objectId()
    await a!.join(ada)
    await a!.choose(ada, 'invisible', Date.now())
    await a!.leave(ada)
    t.same(await a!.join(ada), { first: true, presence: undefined }, 'first again, with no state left from before')
    t.same(await a!.presences([ada]), [undefined])
  })

  t.test('users are kept apart, and unknown users are offline', async (t) => {
    const [a] = await make(t, 1)
    const [ada, grace, nobody] = [objectId(), objectId(), objectId()]
    await a!.join(ada)
    t.same(await a!.join(grace), { first: true, presence: undefined }, 'another user’s first connection is a first too')
    await a!.choose(ada, 'dnd', Date.now())
    await a!.choose(grace, 'online', Date.now())
    t.same(await a!.presences([grace, nobody, ada]), ['online', undefined, 'dnd'], 'in the order asked')
    t.same(await a!.presences([]), [], 'nobody asked, nothing answered')
    t.same(await a!.leave(grace), { last: true, presence: 'online' })
    t.same(await a!.presences([ada, grace]), ['dnd', undefined], 'one leaving leaves the other as they were')
  })

  acrossNodes('a second connection on another instance is not a first, and finds the state chosen on the first', async (t) => {
    const [a, b] = await make(t, 2)
    const ada = objectId()
    t.same(await a!.join(ada), { first: true, presence: undefined })
    await a!.choose(ada, 'dnd', Date.now())
    t.same(await b!.join(ada), { first: false, presence: 'dnd' }, 'B announces nothing, and restores dnd')
    t.same(await b!.presences([ada]), ['dnd'], 'B sees the state chosen on A')
  })

  acrossNodes('last-connection offline across two instances: leaving one keeps the user online; leaving both takes them offline once', async (t) => {
    const [a, b] = await make(t, 2)
    const ada = objectId()
    await a!.join(ada)
    await b!.join(ada)
    t.equal(await b!.choose(ada, 'idle', Date.now()), undefined, 'a choice made on B')
    t.same(await a!.leave(ada), { last: false, presence: 'idle' }, 'A’s last connection closes: still connected on B, nothing to announce')
    t.same(await a!.presences([ada]), ['idle'], 'A still sees ada idle')
    t.same(await b!.leave(ada), { last: true, presence: 'idle' }, 'B’s closes too: offline, announced once')
    t.same(await a!.presences([ada]), [undefined], 'offline seen from A')
    t.same(await b!.presences([ada]), [undefined], 'and from B')
  })

  acrossNodes('a leave after a join elsewhere: the user is online again, fresh, wherever they come back', async (t) => {
    const [a, b] = await make(t, 2)
    const ada = objectId()
    await a!.join(ada)
    await a!.choose(ada, 'dnd', Date.now())
    await a!.leave(ada)
    t.same(await b!.join(ada), { first: true, presence: undefined }, 'on B, after the leave on A: a first, with nothing of A’s state')
    t.same(await a!.join(ada), { first: false, presence: undefined }, 'and A joining again is not a first')
  })

  acrossNodes('connections opening and closing at once on two instances: exactly one first, exactly one last', async (t) => {
    const [a, b, c] = await make(t, 3)
    for (let round = 0; round < 20; round++) {
      const ada = objectId()
      const joins = await Promise.all([a!.join(ada), b!.join(ada), c!.join(ada)])
      t.equal(joins.filter((j) => j.first).length, 1, `round ${round}: online announced once`)
      const leaves = await Promise.all([a!.leave(ada), b!.leave(ada), c!.leave(ada)])
      t.equal(leaves.filter((l) => l.last).length, 1, `round ${round}: offline announced once`)
    }
  })
}

t.test('ClusterPresence: memory', async (t) => {
  clusterPresenceSuite(t, {
    nodes: 1,
    async make(_t, count) {
      return Array.from({ length: count }, () => new MemoryClusterPresence())
    },
  })
})

/** Redis presence nodes on one server, under a prefix of the test's own. */
function redisNodes(t: Test, redis: RunningRedis, count: number) {
  const keys = testKeys()
  const nodes = Array.from({ length: count }, (_, i) => {
    const redisConnection = connection(t, redis)
    return { id: `node-${i}`, presence: new RedisClusterPresence(redisConnection, keys, `node-${i}`), connection: redisConnection }
  })
  return { keys, nodes }
}

t.test('ClusterPresence: Redis', async (t) => {
  const redis = await suiteRedis(t)
  clusterPresenceSuite(t, {
    nodes: Infinity,
    async make(t, count) {
      return redisNodes(t, redis, count).nodes.map((node) => node.presence)
    },
  })

  t.test('a dead instance counted out: its users held nowhere else are reported offline once, with their state', async (t) => {
    const { keys, nodes } = redisNodes(t, redis, 3)
    const [a, b, dead] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    await a.connection.zadd(keys.instances, Date.now(), dead.id)
    const [alone, both] = [objectId(), objectId()]
    await dead.presence.join(alone)
    await dead.presence.choose(alone, 'dnd', Date.now())
    await dead.presence.join(both)
    await b.presence.join(both)
    await b.presence.choose(both, 'idle', Date.now())
    const reported: Departed[][] = []
    a.presence.onChange(({ departed }) => reported.push(departed))
    b.presence.onChange(({ departed }) => reported.push(departed))

    await Promise.all([a.presence.reap(dead.id), b.presence.reap(dead.id)])
    t.same(reported, [[{ userId: alone, presence: 'dnd' }]], 'one report, whoever reaps first, of the user held only there')
    t.same(await a.presence.presences([alone, both]), [undefined, 'idle'], 'the reaped user is offline; the one also on B is as they were')
    t.same(await b.presence.leave(both), { last: true, presence: 'idle' }, 'the dead instance no longer counts: B’s leave is the last')
  })
})
