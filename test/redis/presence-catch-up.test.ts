/**
 * Contract section 5 (others see only changes) with PRESENCE_SCOPE=everyone
 * across instances, over a real redis-server: an instance's presence
 * catch-up (HGETALL on its command connection) and a live change heard on
 * its subscriber connection may bring the same change, in either order. The
 * other instance is played from a second connection: the hash written first,
 * its PUBLISH held back until the catch-up has told it, as happens when the
 * catch-up's read falls between the two.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { ids } from '../helper.js'
import { seedUsers } from '../fixtures/roomler2.js'
import { isPresence } from '../fixtures/messages.js'
import { RedisKeys } from '../../lib/redis/keys.js'
import { cluster, settle } from './instances.js'

const keys = new RedisKeys()

function presenceMessage(userId: string, presence: string): string {
  const payload = JSON.stringify({ type: 'presence:update', data: { user_id: userId, presence } })
  return `e\nelsewhere\npresence:update\n${JSON.stringify([userId])}\n${payload}`
}

t.test('everyone: a change both caught up and then heard live is told once', async (t) => {
  const { db, redis, nodes } = await cluster(t, 1)
  const A = nodes[0]!
  const other = new Redis(redis.url)
  t.teardown(() => other.disconnect())
  const [watch, ghost, marker] = ids()
  await seedUsers(db, [watch, ghost, marker])
  const w = await A.connect(watch)
  // Another instance wrote ghost online; its PUBLISH has not gone out yet.
  await other.hset(keys.presence, ghost, 'online')
  // Another instance asks for a catch-up: A reads the hash and tells the watcher.
  await other.publish(keys.everyone, `r\nelsewhere`)
  await w.next(isPresence(ghost, 'online'))
  // Now the PUBLISH of the same change, then a change of someone else to know it was handled.
  await other.publish(keys.everyone, presenceMessage(ghost, 'online'))
  await other.hset(keys.presence, marker, 'online')
  await other.publish(keys.everyone, presenceMessage(marker, 'online'))
  await w.next(isPresence(marker, 'online'))
  await settle({ w })
  t.same(w.received.filter(isPresence(ghost)).map((m) => m.data.presence), ['online'], 'ghost online told once')
  // The next real change is still told.
  await other.hdel(keys.presence, ghost)
  await other.publish(keys.everyone, presenceMessage(ghost, 'offline'))
  await w.next(isPresence(ghost, 'offline'))
  t.pass('ghost going offline is told')
})
