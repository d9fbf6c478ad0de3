/**
 * Issue 11, items 7 and 9 (contract section 4): a typing:start whose
 * connection closes while it is being handled is stopped at once, not at the
 * timeout (the fault: the connection dropped while the shared state is being
 * set, with the redis-server stopped by SIGSTOP for that moment, or while
 * membership is read from a FerretDB stopped the same way); and typing is
 * limited per user, all connections together.
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { build, objectId, type ServerMessage, type TestClient } from '../helper.js'
import { startRedis } from '../servers/redis.js'
import { RedisKeys } from '../../lib/redis/keys.js'
import type { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { addMembers, databaseClient, pausableDatabase, seedUsers } from './tools.js'
import { eventually } from '../helper.js'
import { internalsOf } from '../../plugins/internals.js'

/** Long, so that only a stop the server sends at once can end the typing within a test. */
const TYPING_TIMEOUT_MS = 60_000

const start = (channelId: string) => ({ type: 'typing:start', data: { channel_id: channelId } })
const stop = (channelId: string) => ({ type: 'typing:stop', data: { channel_id: channelId } })

/** The typing events `client` received from `userId`. */
async function typingFrom(client: TestClient, userId: string): Promise<string[]> {
  await client.sync()
  return client.received.filter((m) => m.type.startsWith('typing:') && m.data.user_id === userId).map((m) => m.type)
}

/** No dangling start: nothing, or each start followed by its stop. */
function balanced(events: string[]): boolean {
  return events.length % 2 === 0 && events.every((type, i) => type === (i % 2 === 0 ? 'typing:start' : 'typing:stop'))
}

function pause(pid: number | undefined): void {
  if (pid !== undefined) process.kill(pid, 'SIGSTOP')
}

t.test('with Redis: a typing:start whose connection closes while the shared state is being set ends at once', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const watcher = new Redis(redis.url)
  t.teardown(() => watcher.disconnect())
  const realtime = { typingTimeoutMs: TYPING_TIMEOUT_MS }
  const a = await build(t, { redis: { url: redis.url }, realtime })
  const b = await build(t, { redis: { url: redis.url }, realtime })
  const [typist, member] = [objectId(), objectId()]
  const channel = objectId()
  for (const node of [a, b]) (internalsOf(node.app).realtimeStores.membership as MemoryMembershipStore).addMember(channel, typist)
  for (const node of [a, b]) (internalsOf(node.app).realtimeStores.membership as MemoryMembershipStore).addMember(channel, member)
  const typing = await a.connect(typist)
  const other = await b.connect(member)
  // Membership cached on the typist's instance: the start goes straight to Redis.
  typing.send(start(channel))
  await other.next('typing:start')
  typing.send(stop(channel))
  await other.next('typing:stop')

  const pid = redis.pid
  pause(pid)
  t.teardown(() => {
    if (pid !== undefined) process.kill(pid, 'SIGCONT')
  })
  const seen = internalsOf(a.app).realtimeMetrics.messagesIn.get('typing:start')
  typing.send(start(channel))
  await eventually(() => internalsOf(a.app).realtimeMetrics.messagesIn.get('typing:start') > seen, 2000, 'the start is being handled')
  await typing.kill()
  await eventually(() => !a.app.wsRegistry.has(typist), 2000, 'the close is handled')
  process.kill(pid!, 'SIGCONT')

  const key = new RedisKeys().typing(channel, typist)
  await eventually(async () => (await watcher.exists(key)) === 0, 5000, 'the typing state is gone from Redis')
  await eventually(() => internalsOf(a.app).realtimeTyping.size === 0, 5000, 'no typist is left on the instance')
  t.ok(balanced(await typingFrom(other, typist)), 'the other member is not left watching a typist')
})

t.test('one instance: a typing:start whose connection closes during the membership read is never left on', async (t) => {
  const database = await pausableDatabase(t)
  const name = `faults_typing_${objectId().slice(-8)}`
  const db = await databaseClient(t, database.url, name)
  const app = await build(t, { database: { url: database.url, name }, realtime: { typingTimeoutMs: TYPING_TIMEOUT_MS } })
  const [typist, member] = [objectId(), objectId()]
  const channel = objectId()
  await seedUsers(db, [typist, member])
  await addMembers(db, channel, [typist, member])
  const typing = await app.connect(typist)
  const other = await app.connect(member)
  await database.pause()
  const seen = internalsOf(app.app).realtimeMetrics.messagesIn.get('typing:start')
  typing.send(start(channel))
  await eventually(() => internalsOf(app.app).realtimeMetrics.messagesIn.get('typing:start') > seen, 2000, 'the start is being handled')
  await typing.kill()
  await eventually(() => !app.app.wsRegistry.has(typist), 2000, 'the close is handled')
  database.resume()
  // Another member's typing in the same channel goes the same way after it.
  const third = await app.connect(member)
  third.send(start(channel))
  await other.next((m: ServerMessage) => m.type === 'typing:start' && m.data.user_id === member).catch(() => undefined)
  t.equal(internalsOf(app.app).realtimeTyping.size <= 1, true, 'the closed connection owns no typing')
  t.ok(balanced(await typingFrom(other, typist)), 'nobody is left watching the closed connection type')
})

t.test('typing is limited per user, all their connections together', async (t) => {
  const app = await build(t, { realtime: { typingRatePerSec: 5, membershipCacheMs: 60_000 } })
  const membership = internalsOf(app.app).realtimeStores.membership as MemoryMembershipStore
  const [typist, member] = [objectId(), objectId()]
  const channel = objectId()
  membership.addMember(channel, typist)
  membership.addMember(channel, member)
  const tabs: TestClient[] = []
  for (let i = 0; i < 4; i++) tabs.push(await app.connect(typist))
  const other = await app.connect(member)
  // Each tab well inside its own per-connection rate; together four times the per-user one.
  const perTab = 6
  for (const tab of tabs) for (let i = 0; i < perTab; i++) tab.send(i % 2 === 0 ? start(channel) : stop(channel))
  let limited = 0
  for (const tab of tabs) {
    limited += (await tab.sync()).filter((m) => m.type === 'error' && m.data.code === 'rate_limited').length
  }
  const delivered = (await typingFrom(other, typist)).length
  t.ok(limited >= 4 * perTab - 8, `${limited} of ${4 * perTab} typing frames were refused with rate_limited`)
  t.ok(delivered <= 6, `the other member received ${delivered} typing events, not ${4 * perTab}`)
})
