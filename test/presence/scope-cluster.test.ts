/**
 * Contract section 5, "Presence scope", on three instances over one real
 * redis-server (contract section 7): with PRESENCE_SCOPE=subscribed a change
 * reaches the subscribers of the user on every instance, and Redis delivers
 * it only to the instances that hold one. What Redis delivered to an
 * instance is read two ways: Redis's own record of the channels each
 * instance's subscriber connection holds (CLIENT LIST `sub=`), and the
 * instance's count of presence changes it was handed
 * (`roomler_presence_heard_total`); a raw subscriber of the channel every
 * instance hears shows no presence crosses it. `everyone` is the contrast:
 * every instance hears every change.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { eventually, ids, type BuiltApp } from '../helper.js'
import { seedUsers } from '../fixtures/roomler2.js'
import { isPresence } from '../fixtures/messages.js'
import { cluster } from '../redis/instances.js'
import { RedisKeys } from '../../lib/redis/keys.js'
import { subscribe, told, toldNothingOf, unsubscribe } from './scope-tools.js'
import { internalsOf } from '../../plugins/internals.js'

const keys = new RedisKeys()

/** Presence changes Redis delivered to the instance so far, per channel. */
function heard(node: BuiltApp): { everyone: number; subscribers: number } {
  const counter = internalsOf(node.app).realtimeMetrics.presenceHeard
  return { everyone: counter.get('everyone'), subscribers: counter.get('subscribers') }
}

/** How many channels the instance's subscriber connection holds, as Redis reports it (CLIENT LIST `sub=`). */
async function channelsHeld(admin: Redis, node: BuiltApp): Promise<number> {
  const name = `roomler-rt-sub:${internalsOf(node.app).realtimeCluster.instanceId}`
  const line = String(await admin.client('LIST')).split('\n').find((entry) => entry.includes(` name=${name} `))
  const held = line ? /\bsub=(\d+)/.exec(line)?.[1] : undefined
  if (held === undefined) throw new Error(`no Redis client named ${name}`)
  return Number(held)
}

/** Every message a raw client hears on the channel all instances hear, kept for the test to read. */
async function listenToEveryone(t: { teardown(fn: () => unknown): void }, url: string): Promise<string[]> {
  const raw = new Redis(url)
  t.teardown(() => raw.disconnect())
  const heardThere: string[] = []
  raw.on('message', (_channel: string, message: string) => heardThere.push(message))
  await raw.subscribe(keys.everyone)
  return heardThere
}

/** The broker's line for an event for everyone carries its type on the third line. */
const presenceLines = (lines: string[]) => lines.filter((line) => line.split('\n')[2] === 'presence:update')

t.test('subscribed, three instances: a subscriber on each hears the user on another; an instance with no subscriber is sent nothing', async (t) => {
  const { db, redis, nodes } = await cluster(t, 3, { presenceScope: 'subscribed' })
  const [A, B, C] = nodes as [BuiltApp, BuiltApp, BuiltApp]
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  const overEveryone = await listenToEveryone(t, redis.url)
  const [wa, wb, wc, ursula, other, onC] = ids()
  await seedUsers(db, [wa, wb, wc, ursula, other, onC])

  // A subscriber of ursula on A, B and C; ursula herself connects on C.
  const watchers = { 'the subscriber on A': await A.connect(wa), 'the subscriber on B': await B.connect(wb), 'the subscriber on C': await C.connect(wc) }
  for (const client of Object.values(watchers)) t.same(await subscribe(client, [ursula]), { [ursula]: 'offline' }, 'presence:state: ursula is offline')
  const u = await C.connect(ursula)
  await told(t, watchers, ursula, 'online', 'hears ursula (on C) come online')
  u.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await told(t, watchers, ursula, 'dnd', 'hears ursula’s change')

  // `other` on A is watched by B's subscriber alone: C holds connections but no subscriber of `other`.
  const onCClient = await C.connect(onC)
  await subscribe(watchers['the subscriber on B'], [other])
  const channelsOfC = await channelsHeld(admin, C)
  const heardByC = heard(C)
  const heardByB = heard(B)
  const o = await A.connect(other)
  await told(t, { 'the subscriber on B': watchers['the subscriber on B'] }, other, 'online', 'hears `other` (on A) come online')
  o.send({ type: 'presence:update', data: { presence: 'idle' } })
  await told(t, { 'the subscriber on B': watchers['the subscriber on B'] }, other, 'idle', 'and go idle')
  await o.close()
  await told(t, { 'the subscriber on B': watchers['the subscriber on B'] }, other, 'offline', 'and leave')
  t.same(heard(B).subscribers - heardByB.subscribers, 3, 'Redis delivered the three changes to B')
  // The same three went through Redis to B before these reads: C would have had them by now.
  await toldNothingOf(t, { 'the user on C': onCClient, 'ursula on C': u, 'the subscriber on A': watchers['the subscriber on A'] }, other, 'no one else was told')
  t.same(heard(C), heardByC, 'Redis delivered nothing of them to C')
  t.equal(channelsOfC, 3, 'C’s subscriber connection holds its two channels and ursula’s, not `other`’s')
  t.equal(await channelsHeld(admin, C), 3, 'still')
  t.same(presenceLines(overEveryone), [], 'no presence change went over the channel every instance hears')
  t.equal(heard(A).everyone + heard(B).everyone + heard(C).everyone, 0, 'and no instance heard one there')

  // Unsubscribing the last watcher on an instance gives its channel back to Redis.
  const heldByA = await channelsHeld(admin, A)
  await unsubscribe(watchers['the subscriber on A'], [ursula])
  await eventually(async () => (await channelsHeld(admin, A)) === heldByA - 1, 5000, 'A gave up ursula’s channel')
  const heardByA = heard(A)
  u.send({ type: 'presence:update', data: { presence: 'online' } })
  await told(t, { 'the subscriber on B': watchers['the subscriber on B'], 'the subscriber on C': watchers['the subscriber on C'] }, ursula, 'online', 'the remaining subscribers hear ursula')
  await toldNothingOf(t, { 'the subscriber on A': watchers['the subscriber on A'] }, ursula, 'the one who unsubscribed does not')
  t.same(heard(A), heardByA, 'and Redis delivered nothing of it to A')
})

t.test('subscribed, three instances: two subscribers on one instance share one channel; it goes with the last of them, and a closed connection’s go with it', async (t) => {
  const { redis, nodes } = await cluster(t, 3, { presenceScope: 'subscribed' })
  const [A, B, C] = nodes as [BuiltApp, BuiltApp, BuiltApp]
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  const [w1, w2, w3, ursula, victor] = ids()
  const base = await channelsHeld(admin, B)
  const first = await B.connect(w1)
  const second = await B.connect(w2)
  const onC = await C.connect(w3)
  await subscribe(first, [ursula, victor])
  await subscribe(second, [ursula])
  await subscribe(onC, [ursula])
  t.equal(await channelsHeld(admin, B), base + 2, 'B holds one channel per watched user, not per subscriber')

  const u = await A.connect(ursula)
  await told(t, { first, second, onC }, ursula, 'online', 'all three subscribers hear ursula')
  await unsubscribe(first, [ursula])
  t.equal(await channelsHeld(admin, B), base + 2, 'one subscriber of ursula left on B: the channel stays')
  u.send({ type: 'presence:update', data: { presence: 'idle' } })
  await told(t, { second, onC }, ursula, 'idle', 'the remaining subscribers hear ursula')
  await toldNothingOf(t, { first }, ursula, 'the one who unsubscribed does not')

  await second.kill()
  await first.close()
  await eventually(async () => (await channelsHeld(admin, B)) === base, 5000, 'B gave up both channels once their watchers were gone')
  const heardByB = heard(B)
  u.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await told(t, { onC }, ursula, 'dnd', 'the subscriber on C still hears ursula')
  await A.connect(victor)
  const v = await C.connect(ids()[0])
  await v.sync()
  t.same(heard(B), heardByB, 'Redis delivered nothing more to B')
})

t.test('everyone, three instances: every instance hears every change over the one channel', async (t) => {
  const { redis, nodes } = await cluster(t, 3)
  const [A, B, C] = nodes as [BuiltApp, BuiltApp, BuiltApp]
  const overEveryone = await listenToEveryone(t, redis.url)
  const [wa, wb, wc, ursula] = ids()
  const watchers = { A: await A.connect(wa), B: await B.connect(wb), C: await C.connect(wc) }
  // The watchers' own arrivals went to every instance too: once the first has heard the last, every instance has heard them.
  await told(t, { A: watchers.A }, wc, 'online', 'the watchers hear each other arrive')
  await told(t, { B: watchers.B }, wc, 'online', 'the watchers hear each other arrive')
  const before = nodes.map(heard)
  const u = await C.connect(ursula)
  await told(t, watchers, ursula, 'online', 'every connected user hears ursula, none subscribed')
  u.send({ type: 'presence:update', data: { presence: 'idle' } })
  await told(t, watchers, ursula, 'idle', 'and her change')
  for (const [i, node] of nodes.entries()) {
    const got = await eventually(() => heard(node).everyone - before[i]!.everyone >= 2, 5000, 'both changes heard').catch(() => false)
    t.ok(got, `instance ${'ABC'[i]} heard both changes on the channel all hear`)
  }
  const ofUrsula = () => presenceLines(overEveryone).filter((line) => line.includes(ursula))
  await eventually(() => ofUrsula().length >= 2, 5000, 'the raw listener heard them')
  t.equal(ofUrsula().length, 2, 'once each')
  t.same(await subscribe(watchers.A, [ursula]), { [ursula]: 'idle' }, 'a subscribe is answered with presence:state')
  t.notOk(isPresence(ursula)(watchers.A.received.at(-1)!), 'and sends nothing else')
})
