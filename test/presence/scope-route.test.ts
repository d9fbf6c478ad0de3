/**
 * Contract section 5, "Presence scope" (PRESENCE_SCOPE=subscribed), at the
 * seam between a subscriber's presence:state and the user's channel, over a
 * real redis-server: the route and audience of one instance, the other
 * instances played by PUBLISH and HSET from a second connection.
 *
 * - A SUBSCRIBE refused with the connection up (an ACL that denies the
 *   channels, then allows them) is retried at the heartbeat; the changes
 *   made in between reach the subscriber then, not at the next change.
 * - A change heard on the subscriber connection while presence:state is read
 *   on the command connection wins over the older read.
 * - One presence:subscribe (unsubscribe, close) of many users is one
 *   SUBSCRIBE (UNSUBSCRIBE), as Redis counts its commands.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { eventually, ids } from '../helper.js'
import { startRedis } from '../servers/redis.js'
import { RedisKeys } from '../../lib/redis/keys.js'
import { RedisPresenceRoute } from '../../lib/redis/presence-route.js'
import { SubscriberAudience } from '../../lib/presence/audience.js'
import { PresenceSubscriptions } from '../../lib/presence/subscriptions.js'
import type { PresenceService } from '../../lib/presence/presence.js'
import type { Connection } from '../../lib/connections/connection.js'
import type { OutFrame } from '../../lib/connections/wire.js'
import type { Metrics } from '../../lib/support/metrics.js'
import type { Presence } from '../../schemas/common.js'

const keys = new RedisKeys(`scope-route-${process.pid}:`)
const quiet = { warn() {} }
const noMetrics = { delivered() {} } as unknown as Metrics

/** A watcher connection that keeps what it was sent. */
function watcher(userId: string): Connection & { told: Array<{ user_id: string; presence: string }> } {
  const told: Array<{ user_id: string; presence: string }> = []
  return {
    userId,
    told,
    sendFrame(frame: OutFrame) {
      told.push((JSON.parse(frame.payload) as { data: { user_id: string; presence: string } }).data)
      return true
    },
  } as unknown as Connection & { told: typeof told }
}

/** A change made on another instance: the hash, then the user's channel. */
async function changeElsewhere(other: Redis, userId: string, presence: 'online' | 'offline'): Promise<void> {
  if (presence === 'offline') await other.hdel(keys.presence, userId)
  else await other.hset(keys.presence, userId, presence)
  const payload = JSON.stringify({ type: 'presence:update', data: { user_id: userId, presence } })
  await other.publish(keys.presenceOf(userId), `w\nelsewhere\n${presence}\n${payload}`)
}

async function setup(t: { teardown(fn: () => unknown): void }, subUrl?: (url: string) => string) {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const other = new Redis(redis.url)
  const pub = new Redis(redis.url)
  t.teardown(() => {
    other.disconnect()
    pub.disconnect()
  })
  return { redis, other, pub, subAt: (url: string) => {
    const sub = new Redis(subUrl ? subUrl(url) : url)
    t.teardown(() => sub.disconnect())
    return sub
  } }
}

t.test('a subscribe refused while the connection stayed up: once the heartbeat subscribes, the change made meanwhile reaches the subscriber', async (t) => {
  const { redis, other, pub, subAt } = await setup(t)
  // The instance's subscriber connection logs in as a user allowed no channel at all.
  await other.call('ACL', 'SETUSER', 'instance', 'on', '>secret', '~*', '+@all', 'resetchannels')
  const sub = subAt(redis.url.replace('redis://', 'redis://instance:secret@'))
  const route = new RedisPresenceRoute(pub, sub, keys, 'here', quiet)
  const audience = new SubscriberAudience(route, noMetrics)
  const [ursula, asker] = ids()
  await changeElsewhere(other, ursula, 'online')
  const w = watcher(asker)
  const subscriptions = new PresenceSubscriptions({ presencesFor: async (_own: string, userIds: readonly string[]) => {
    const values = await pub.hmget(keys.presence, ...userIds)
    return values.map((value) => (value ?? 'offline') as Presence)
  } } as unknown as PresenceService, audience, 100)
  const state = await subscriptions.subscribe(w, [ursula])
  t.same(state.data.presences, { [ursula]: 'online' }, 'presence:state: online (its channel was refused)')
  const [, refused] = (await other.pubsub('NUMSUB', keys.presenceOf(ursula))) as [string, number]
  t.equal(Number(refused), 0, 'Redis refused the SUBSCRIBE: nobody hears her channel')
  await changeElsewhere(other, ursula, 'offline')
  // Channels allowed again: the next heartbeat's retry subscribes.
  await other.call('ACL', 'SETUSER', 'instance', 'allchannels')
  await route.retry()
  const [, held] = (await other.pubsub('NUMSUB', keys.presenceOf(ursula))) as [string, number]
  t.equal(Number(held), 1, 'the retry subscribed')
  await eventually(() => w.told.some((m) => m.user_id === ursula && m.presence === 'offline'), 2000, 'the subscriber was told ursula went offline')
  t.same(w.told, [{ user_id: ursula, presence: 'offline' }], 'told the change it missed, once')
  await changeElsewhere(other, ursula, 'online')
  await eventually(() => w.told.length === 2, 2000, 'the next change is heard on her channel')
  t.same(w.told[1], { user_id: ursula, presence: 'online' }, 'and is the change')
})

t.test('a change heard while presence:state is being read wins over the older read', async (t) => {
  const { redis, other, pub, subAt } = await setup(t)
  const sub = subAt(redis.url)
  const route = new RedisPresenceRoute(pub, sub, keys, 'here', quiet)
  const audience = new SubscriberAudience(route, noMetrics)
  const [ursula, asker] = ids()
  await changeElsewhere(other, ursula, 'online')
  let heard = 0
  sub.on('message', (channel: string) => {
    if (channel === keys.presenceOf(ursula)) heard++
  })
  const w = watcher(asker)
  const subscriptions = new PresenceSubscriptions({ presencesFor: async (_own: string, userIds: readonly string[]) => {
    const values = await pub.hmget(keys.presence, ...userIds)
    // The read said online; before its answer is handled, she goes offline and that is heard first.
    await changeElsewhere(other, ursula, 'offline')
    await eventually(() => heard === 1, 2000, 'her going offline was heard')
    return values.map((value) => (value ?? 'offline') as Presence)
  } } as unknown as PresenceService, audience, 100)
  const state = await subscriptions.subscribe(w, [ursula])
  t.same(state.data.presences, { [ursula]: 'offline' }, 'presence:state: offline, not the older online')
  t.same(w.told, [], 'and no update (offline is what the subscriber knows)')
  await changeElsewhere(other, ursula, 'online')
  await eventually(() => w.told.length === 1, 2000, 'her coming back is heard')
  t.same(w.told, [{ user_id: ursula, presence: 'online' }], 'as a change')
})

/** How many times Redis ran `command` (INFO commandstats). */
async function calls(admin: Redis, command: string): Promise<number> {
  const info = String(await admin.info('commandstats'))
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0)
}

async function numsub(admin: Redis, userIds: readonly string[]): Promise<number[]> {
  const reply = (await admin.pubsub('NUMSUB', ...userIds.map((userId) => keys.presenceOf(userId)))) as Array<string | number>
  return reply.filter((_, i) => i % 2 === 1).map(Number)
}

t.test('one presence:subscribe of new users is one SUBSCRIBE; an unsubscribe, and a close, one UNSUBSCRIBE each', async (t) => {
  const { redis, other, pub, subAt } = await setup(t)
  const sub = subAt(redis.url)
  const audience = new SubscriberAudience(new RedisPresenceRoute(pub, sub, keys, 'here', quiet), noMetrics)
  const subscriptions = new PresenceSubscriptions({ presencesFor: async (_own: string, userIds: readonly string[]) => userIds.map(() => 'offline' as Presence) } as unknown as PresenceService, audience, 100)
  const [asker, ...users] = ids()
  const w = watcher(asker)
  const subscribes = await calls(other, 'subscribe')
  await subscriptions.subscribe(w, users)
  t.equal((await calls(other, 'subscribe')) - subscribes, 1, `${users.length} users watched here: one SUBSCRIBE`)
  t.same(await numsub(other, users), users.map(() => 1), 'every channel is held')
  const unsubscribes = await calls(other, 'unsubscribe')
  subscriptions.unsubscribe(w, users.slice(0, 3))
  await eventually(async () => (await numsub(other, users.slice(0, 3))).every((n) => n === 0), 2000, 'the three channels were let go')
  t.equal((await calls(other, 'unsubscribe')) - unsubscribes, 1, 'three users unsubscribed: one UNSUBSCRIBE')
  subscriptions.forget(w)
  await eventually(async () => (await numsub(other, users)).every((n) => n === 0), 2000, 'the rest were let go with the close')
  t.equal((await calls(other, 'unsubscribe')) - unsubscribes, 2, 'the close: one UNSUBSCRIBE more')
})
