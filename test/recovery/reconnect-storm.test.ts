/**
 * A reconnect storm (an instance restarted, and its clients all resume at
 * once on another, with `?since=`): a real redis-server, two instances,
 * channel_members in the database, hundreds of real WebSocket clients.
 * Every resume whose missed events the history still holds recovers, with
 * exactly those events, in order, however long it waited for its turn.
 * The fault: the instance the storm reaches reads channel_members over a
 * slow link (a relay that holds every chunk 150 ms each way), and its
 * membership cache is cold, so each channel's membership costs a slow round
 * trip (300 ms, well within the 3 s a resume's memberships get): it must not
 * hold a turn to read the stream meanwhile (100 of them, four at a time,
 * take 7.5 s, past the 5 s of a replay).
 */
import t from 'tap'
import { MongoClient } from 'mongodb'
import { WebSocket } from 'ws'
import { MongoMembershipStore } from '../../lib/mongo/membership-store.js'
import { build, eventually, mongoUrl, objectId, testDatabase, TestClient, type BuiltApp } from '../helper.js'
import { INSTANCE_TTL_MS, MEMBERSHIP_CACHE_MS } from '../redis/instances.js'
import { addMembers, channelMembersIndex } from '../fixtures/roomler2.js'
import { laggingRelay } from '../faults/tools.js'
import { startRedis } from '../servers/redis.js'
import { internalsOf } from '../../plugins/internals.js'
import { applicationEvents, note, until } from './tools.js'

const CLIENTS = 300
/** Three members each, and an event in each: nearly every resume needs a membership no other resume read before it. */
const CHANNELS = 100
/** Each way, on the storm instance's link to the database. */
const DATABASE_LAG_MS = 150
const EVENTS = 150
const UNLIMITED = { rateLimitPerSec: 100_000, rateLimitBurst: 100_000 }
/** Long enough for the whole storm on a loaded machine; the bounds under test are the server's. */
const STORM_WAIT_MS = 60_000

t.test('a reconnect storm: every resume recovers exactly its missed events, in order', async (t) => {
  const { name, db } = await testDatabase(t, 'storm')
  await channelMembersIndex(db)
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const realtime = { ...UNLIMITED, instanceTtlMs: INSTANCE_TTL_MS, membershipCacheMs: MEMBERSHIP_CACHE_MS }
  const slowLink = await laggingRelay(t, mongoUrl(), DATABASE_LAG_MS)
  const A = await build(t, { database: { url: mongoUrl(), name }, redis: { url: redis.url }, realtime })
  // Many connections may open at once over the slow link (the driver's default is 2 at a time): the link is the fault, not the pool.
  const slowClient = new MongoClient(slowLink.url, { maxConnecting: 100 })
  await slowClient.connect()
  t.teardown(() => slowClient.close(true))
  // Its pool is open before the storm (a running instance's would be): the round trips are the fault.
  await Promise.all(Array.from({ length: CHANNELS }, () => slowClient.db(name).command({ ping: 1 })))
  const membership = new MongoMembershipStore(slowClient.db(name))
  const B = await build(t, { database: { url: mongoUrl(), name }, redis: { url: redis.url }, realtime, stores: { membership } })
  const users = Array.from({ length: CLIENTS }, () => objectId())
  const channels = Array.from({ length: CHANNELS }, () => objectId())
  const channelOf = (user: number) => user % CHANNELS
  for (let c = 0; c < CHANNELS; c++) await addMembers(db, channels[c]!, users.filter((_, i) => channelOf(i) === c))
  const endOf = (node: BuiltApp) => internalsOf(node.app).realtimeCluster.history.end()
  const since = endOf(A)

  // Published on A while the clients were away: to everyone, to a channel, to two users.
  const expected = users.map(() => [] as string[])
  const dA = A.app.wsDispatcher
  let channelEvents = 0
  for (let i = 0; i < EVENTS; i++) {
    const text = `e${i}`
    if (i % 3 !== 0) {
      // Two events in three to a channel, each channel in turn: every channel has one.
      const c = channelEvents++ % CHANNELS
      await dA.sendToChannel(channels[c]!, note(text))
      users.forEach((_, u) => channelOf(u) === c && expected[u]!.push(text))
    } else if (i % 2 === 0) {
      dA.toEveryone(note(text))
      for (const list of expected) list.push(text)
    } else {
      const to = [...new Set([i % CLIENTS, (i * 7) % CLIENTS])]
      dA.broadcast(to.map((u) => users[u]!), note(text))
      for (const u of to) expected[u]!.push(text)
    }
  }
  // B has read all of it: the storm resumes there (its membership cache is cold, as after a restart).
  await eventually(() => endOf(B) === endOf(A) && endOf(A) !== since, STORM_WAIT_MS, 'B read every event')

  const clients = users.map((user) => {
    const socket = new WebSocket(`${B.wsUrl}?token=${encodeURIComponent(B.token(user))}&since=${encodeURIComponent(since)}`)
    t.teardown(() => socket.terminate())
    return new TestClient(socket)
  })
  const connected = await Promise.all(clients.map((client) => client.next('connected', STORM_WAIT_MS)))
  const notRecovered = connected.filter((m) => m.data.recovered !== true).length
  t.equal(notRecovered, 0, `every one of ${CLIENTS} resumes recovered (${notRecovered} did not)`)

  // A live event after the storm: once it arrives, each replay is behind it.
  dA.toEveryone(note('after'))
  await Promise.all(clients.map((client) => until(client, 'after').catch(() => undefined)))
  const wrong = clients.filter((client, u) => JSON.stringify(applicationEvents(client)) !== JSON.stringify([...expected[u]!, 'after'])).length
  t.equal(wrong, 0, `each got exactly its missed events, in order, then the live one (${wrong} did not)`)
})
