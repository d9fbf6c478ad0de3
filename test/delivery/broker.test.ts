/**
 * Conformance suite for the `Broker` port (lib/delivery/broker.ts): one
 * suite, given a factory of instances, runs on the in-memory broker and on
 * the Redis broker over a real redis-server. What it checks is what users
 * notice: an event reaches each connection it is for once, on whichever
 * instance that connection is, and nobody excluded; a channel's membership is
 * dropped everywhere.
 *
 * Each instance's connections are modelled by the users it holds: an event
 * handed to an instance reaches the users it holds that the audience names
 * (or all, for everyone), less those excluded, as lib/connections/hub.ts
 * delivers it. Holding a user is what the registry reports to the broker
 * (lib/redis/cluster.ts wires `registry.watch` to `announceUser`).
 *
 * The memory broker cannot model two instances: a publish is a local
 * delivery, and two of them share nothing. So the cases across instances run
 * on Redis only. Absence is proven, not slept on: a marker for everyone from
 * the same instance, published after, is awaited everywhere first (Redis
 * keeps one connection's publishes in order).
 */
import t, { type Test } from 'tap'
import type { Audience, Broker, Outbound } from '../../lib/delivery/broker.js'
import { LocalBroker } from '../../lib/delivery/broker-memory.js'
import { RedisBroker } from '../../lib/redis/broker.js'
import { RedisHistory } from '../../lib/redis/history.js'
import { MemoryHistory } from '../../lib/history/history-memory.js'
import { withOffset } from '../../lib/history/offsets.js'
import { eventually, objectId } from '../helper.js'
import { acrossInstances, connection, suiteRedis, testKeys } from '../fixtures/ports.js'

/** One instance: its broker, and what it does when its first connection of a user opens or its last closes. */
interface BrokerInstance {
  broker: Broker
  announce(userId: string, here: boolean): void
}
interface BrokerFactory {
  /** How many instances the adapter can model sharing one broker. */
  nodes: number
  make(t: Test, count: number): Promise<BrokerInstance[]>
}

const MARKER = 'test:marker'
const HISTORY = { windowMs: 120_000, events: 100, maxBytes: 64 * 1024 * 1024 }

/** An instance as the suite sees it: the users it holds, and everything its broker handed back. */
class Node {
  readonly holds = new Set<string>()
  readonly deliveries: Array<{ audience: Audience; event: Outbound }> = []
  readonly drops: string[] = []
  /** One `user payload` line per connection reached, as the users held when it arrived; markers left out. */
  readonly #lines: string[] = []

  constructor(
    readonly name: string,
    readonly instance: BrokerInstance,
  ) {}

  get broker() {
    return this.instance.broker
  }

  start() {
    return this.broker.start({
      deliver: (audience, event) => {
        this.deliveries.push({ audience, event })
        if (event.type === MARKER) return
        const reached = 'users' in audience ? audience.users.filter((u) => this.holds.has(u)) : [...this.holds]
        for (const user of reached) if (!audience.exclude?.has(user)) this.#lines.push(`${user} ${event.payload}`)
      },
      dropChannel: (channelId) => this.drops.push(channelId),
    })
  }

  /** What this instance's connections received, sorted. */
  received(): string[] {
    return [...this.#lines].sort()
  }

  /** Everything handed to this instance, markers left out. */
  events() {
    return this.deliveries.filter((d) => d.event.type !== MARKER)
  }
}

const outbound = (type: string, data: object = {}): Outbound => ({ type, payload: JSON.stringify({ type, data }) })

async function startNodes(t: Test, factory: BrokerFactory, count: number): Promise<Node[]> {
  const instances = await factory.make(t, count)
  const nodes = instances.map((instance, i) => new Node(String.fromCharCode(65 + i), instance))
  for (const node of nodes) await node.start()
  return nodes
}

/** A marker for everyone from `from`, awaited on every node: what `from` published before it has arrived everywhere. */
async function settle(nodes: Node[], from: Node): Promise<void> {
  const marker = outbound(MARKER, { nonce: objectId() })
  from.broker.publish({ everyone: true }, marker)
  for (const node of nodes) {
    await eventually(() => node.deliveries.some((d) => d.event.payload === marker.payload), undefined, `${node.name} hears ${from.name}’s marker`)
  }
}

/** `node` now holds (or no longer holds) a connection of each user, and every instance has heard so. */
async function hold(nodes: Node[], node: Node, userIds: string[], here = true): Promise<void> {
  for (const userId of userIds) {
    if (here) node.holds.add(userId)
    else node.holds.delete(userId)
    node.instance.announce(userId, here)
  }
  await settle(nodes, node)
}

/** Each node received exactly `expected[name]` (`user payload` lines). */
function expectReceived(t: Test, nodes: Node[], expected: Record<string, Array<[string, Outbound]>>, what: string) {
  for (const node of nodes) {
    const want = (expected[node.name] ?? []).map(([user, event]) => `${user} ${event.payload}`).sort()
    t.same(node.received(), want, `${node.name}: ${what}`)
  }
}

function brokerSuite(t: Test, factory: BrokerFactory) {
  const acrossNodes = (name: string, fn: (t: Test) => Promise<void>) => acrossInstances(t, factory.nodes, name, fn)

  t.test('an event for named users reaches this instance’s connections of those users once, as the same bytes', async (t) => {
    const [a] = await startNodes(t, factory, 1)
    const [ada, grace, eve] = [objectId(), objectId(), objectId()]
    await hold([a!], a!, [ada, grace, eve])
    const event = outbound('app:hello', { text: 'hi' })
    a!.broker.publish({ users: [ada, grace, objectId()], exclude: new Set([grace]) }, event)
    await settle([a!], a!)
    expectReceived(t, [a!], { A: [[ada, event]] }, 'ada once; grace excluded; eve not named; an absent user reaches nobody')
    t.equal(a!.events()[0]?.event.payload, event.payload, 'the payload is handed on untouched')
  })

  t.test('an application event comes back with its offset in the frame, in order, the same offsets on every instance', async (t) => {
    const nodes = await startNodes(t, factory, Math.min(factory.nodes, 2))
    const ada = objectId()
    for (const node of nodes) await hold(nodes, node, [ada])
    const events = Array.from({ length: 5 }, (_, i): Outbound => ({ ...outbound('app:kept', { i }), application: true }))
    for (const event of events) nodes[0]!.broker.publish({ users: [ada] }, event)
    const kept = (node: Node) => node.deliveries.filter((d) => d.event.type === 'app:kept').map((d) => d.event)
    for (const node of nodes) await eventually(() => kept(node).length === events.length, undefined, `${node.name} gets the five`)
    for (const node of nodes) {
      const got = kept(node)
      const offsets = got.map((e) => e.offset!)
      t.equal(new Set(offsets).size, events.length, `${node.name}: distinct offsets`)
      t.same(got.map((e) => e.payload), events.map((e, k) => withOffset(e.payload, offsets[k]!)), `${node.name}: in order, each frame with its offset`)
    }
    if (nodes.length > 1) t.same(kept(nodes[1]!).map((e) => e.offset), kept(nodes[0]!).map((e) => e.offset), 'one history: the same offsets on every instance')
  })

  t.test('an event for everyone reaches every connection here but the excluded, once', async (t) => {
    const [a] = await startNodes(t, factory, 1)
    const [ada, grace, eve] = [objectId(), objectId(), objectId()]
    await hold([a!], a!, [ada, grace, eve])
    const event = outbound('app:all')
    a!.broker.publish({ everyone: true, exclude: new Set([eve]) }, event)
    await settle([a!], a!)
    expectReceived(t, [a!], { A: [[ada, event], [grace, event]] }, 'everyone but eve, once each')
  })

  t.test('dropChannel is handed back to this instance once', async (t) => {
    const [a] = await startNodes(t, factory, 1)
    const channel = objectId()
    a!.broker.dropChannel(channel)
    await settle([a!], a!)
    t.same(a!.drops, [channel])
  })

  t.test('a closed broker delivers nothing more here', async (t) => {
    const [a] = await startNodes(t, factory, 1)
    const ada = objectId()
    await hold([a!], a!, [ada])
    await a!.broker.close()
    a!.broker.publish({ users: [ada] }, outbound('app:late'))
    a!.broker.publish({ everyone: true }, outbound('app:late'))
    a!.broker.dropChannel(objectId())
    t.same(a!.received(), [], 'no event after close')
    t.same(a!.drops, [], 'no drop after close')
  })

  acrossNodes('an event for named users reaches exactly the instances that hold them, once on each', async (t) => {
    const nodes = await startNodes(t, factory, 3)
    const [A, B, C] = nodes as [Node, Node, Node]
    const [u1, u2, u3, nowhere] = [objectId(), objectId(), objectId(), objectId()]
    await hold(nodes, A, [u1])
    await hold(nodes, B, [u1, u2])
    await hold(nodes, C, [u3])
    const fromA = outbound('app:from-a')
    const fromC = outbound('app:from-c')
    A.broker.publish({ users: [u1, u2, nowhere] }, fromA)
    C.broker.publish({ users: [u1] }, fromC)
    await settle(nodes, A)
    await settle(nodes, C)
    expectReceived(t, nodes, { A: [[u1, fromA], [u1, fromC]], B: [[u1, fromA], [u2, fromA], [u1, fromC]] }, 'each connection of the named users once')
    t.same(C.events().map((d) => d.event.type), ['app:from-c'], 'C, holding none of A’s users, is not even sent A’s event')
  })

  acrossNodes('exclusions hold on every instance', async (t) => {
    const nodes = await startNodes(t, factory, 3)
    const [A, B, C] = nodes as [Node, Node, Node]
    const [u1, u2, u3] = [objectId(), objectId(), objectId()]
    await hold(nodes, A, [u1])
    await hold(nodes, B, [u1, u2])
    await hold(nodes, C, [u3])
    const all = outbound('app:all-but-u2')
    const some = outbound('app:some-but-u1')
    A.broker.publish({ everyone: true, exclude: new Set([u2]) }, all)
    C.broker.publish({ users: [u1, u2, u3], exclude: new Set([u1]) }, some)
    await settle(nodes, A)
    await settle(nodes, C)
    expectReceived(t, nodes, { A: [[u1, all]], B: [[u1, all], [u2, some]], C: [[u3, all], [u3, some]] }, 'nobody excluded hears it, on any instance')
    t.same(A.events().map((d) => d.event.type), ['app:all-but-u2'], 'A, holding only the excluded u1, is not sent C’s event')
  })

  acrossNodes('a leave after a join: the instance a user left is no longer sent their events; their other instance still is; a return is heard', async (t) => {
    const nodes = await startNodes(t, factory, 3)
    const [A, B, C] = nodes as [Node, Node, Node]
    const ada = objectId()
    await hold(nodes, B, [ada])
    await hold(nodes, C, [ada])
    await hold(nodes, B, [ada], false)
    const first = outbound('app:after-leave')
    A.broker.publish({ users: [ada] }, first)
    await settle(nodes, A)
    expectReceived(t, nodes, { C: [[ada, first]] }, 'ada’s connection on C gets it once')
    t.same(B.events(), [], 'B, which ada left, is not sent it')

    await hold(nodes, C, [ada], false)
    await hold(nodes, B, [ada])
    const second = outbound('app:after-return')
    A.broker.publish({ users: [ada] }, second)
    await settle(nodes, A)
    expectReceived(t, nodes, { B: [[ada, second]], C: [[ada, first]] }, 'back on B: B gets the next one; C, left, does not')
  })

  acrossNodes('dropChannel on one instance drops the channel on every instance, once each', async (t) => {
    const nodes = await startNodes(t, factory, 3)
    const [A] = nodes as [Node]
    const channel = objectId()
    A.broker.dropChannel(channel)
    await settle(nodes, A)
    for (const node of nodes) t.same(node.drops, [channel], `${node.name} drops it once`)
  })

  acrossNodes('an event crosses instances byte for byte: newlines, separators, emoji, in its type and its data', async (t) => {
    const nodes = await startNodes(t, factory, 2)
    const [A, B] = nodes as [Node, Node]
    const ada = objectId()
    await hold(nodes, B, [ada])
    const data = { text: 'line one\nline two\r\n\u2028\u2029 😀 e\u0301 "quoted" \\ \n\n', empty: '' }
    const toUser = outbound('app:multi\nline', data)
    const toAll = outbound('app:all\n', data)
    A.broker.publish({ users: [ada] }, toUser)
    A.broker.publish({ everyone: true }, toAll)
    await settle(nodes, A)
    expectReceived(t, nodes, { B: [[ada, toUser], [ada, toAll]] }, 'the same payload on the other instance')
  })
}

t.test('Broker: memory', async (t) => {
  brokerSuite(t, {
    nodes: 1,
    async make(t, count) {
      return Array.from({ length: count }, () => {
        const broker = new LocalBroker(new MemoryHistory(HISTORY))
        t.teardown(() => broker.close())
        return { broker, announce() {} }
      })
    },
  })
})

t.test('Broker: Redis', async (t) => {
  const redis = await suiteRedis(t)
  brokerSuite(t, {
    nodes: Infinity,
    async make(t, count) {
      const keys = testKeys()
      return Array.from({ length: count }, (_, i) => {
        const [pub, sub] = [connection(t, redis), connection(t, redis)]
        const log = { warn: (obj: object, msg: string) => t.comment(`node-${i}: ${msg} ${JSON.stringify(obj)}`) }
        const history = new RedisHistory(pub, connection(t, redis), keys, HISTORY, log)
        const broker = new RedisBroker(pub, sub, keys, `node-${i}`, log, history)
        t.teardown(() => broker.close())
        return { broker, announce: (userId, here) => broker.announceUser(userId, here) }
      })
    },
  })
})
