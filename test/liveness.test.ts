import t from 'tap'
import { WebSocket } from 'ws'
import { build, connect, eventually, objectId, signToken, TestClient, WAIT_MS } from './helper.js'
import { CloseCode } from '../lib/connections/close-codes.js'
import { internalsOf } from '../plugins/internals.js'

t.test('a frame larger than MAX_PAYLOAD_BYTES closes the connection with 1009', async (t) => {
  const { connect } = await build(t, { realtime: { maxPayloadBytes: 1024 } })
  const client = await connect(objectId())
  client.send({ type: 'ping', data: { pad: 'x'.repeat(2048) } })
  const { code } = await client.closed
  t.equal(code, CloseCode.MESSAGE_TOO_BIG)
})

// A short typing timeout makes the liveness sweep run every 50 ms.
const FAST_SWEEP = { realtime: { typingTimeoutMs: 200 } }

t.test('a connection whose token expires is closed with 4001', async (t) => {
  const { wsUrl } = await build(t, FAST_SWEEP)
  const user = objectId()
  const exp = Math.floor(Date.now() / 1000) + 1
  const client = await connect(t, wsUrl, signToken({ sub: user, exp }))
  const { code } = await client.closed
  t.equal(code, CloseCode.TOKEN_EXPIRED)
})

t.test('auth:refresh with a later token keeps the connection past the first expiry', async (t) => {
  const { wsUrl, app } = await build(t, FAST_SWEEP)
  const user = objectId()
  const now = Math.floor(Date.now() / 1000)
  const client = await connect(t, wsUrl, signToken({ sub: user, exp: now + 1 }))
  client.send({ type: 'auth:refresh', data: { token: signToken({ sub: user, exp: now + 3600 }) } })
  t.same(await client.sync(), [], 'no error for a valid refresh')
  // The old token's expiry passes: the sweep must have seen it, and left the connection open.
  await eventually(() => Date.now() > (now + 1) * 1000 + 200, WAIT_MS, 'the first token expiring')
  t.same(await client.sync(), [], 'still open and answering after the first token expired')
  t.equal(client.closeCode, undefined)
  t.equal(app.wsRegistry.senders(user).size, 1)
})

t.test('a peer that does not answer protocol pings is terminated and cleaned up like a close', async (t) => {
  const { wsUrl, app } = await build(t, { realtime: { heartbeatMs: 100 } })
  const silent = objectId()
  const watcher = await connect(t, wsUrl, signToken({ sub: objectId() }))
  // autoPong off: this client never answers the server's pings.
  const socket = new WebSocket(`${wsUrl}?token=${signToken({ sub: silent })}`, { autoPong: false })
  const client = new TestClient(socket)
  t.teardown(() => socket.terminate())
  await client.next('connected')
  t.same((await watcher.next('presence:update')).data, { user_id: silent, presence: 'online' })
  await client.closed
  t.same((await watcher.next('presence:update')).data, { user_id: silent, presence: 'offline' }, 'others see it go offline')
  t.equal(app.wsRegistry.senders(silent).size, 0, 'out of the registry')
  t.equal(watcher.closeCode, undefined, 'a peer that answers pings stays')
})

t.test('a protocol Ping from the client is answered with a Pong', async (t) => {
  const { connect } = await build(t)
  const client = await connect(objectId())
  const payload = Buffer.from('are-you-there')
  const pong = new Promise<Buffer>((resolve) => client.socket.once('pong', resolve))
  client.socket.ping(payload)
  t.same(await pong, payload)
})

t.test('closing the server closes every connection with 1001 and records everyone offline', async (t) => {
  const { app, connect } = await build(t)
  const users = [objectId(), objectId()]
  const clients = await Promise.all(users.map((user) => connect(user)))
  await app.close()
  for (const client of clients) t.equal((await client.closed).code, CloseCode.GOING_AWAY)
  const store = internalsOf(app).realtimeStores.presence as import('../lib/presence/presence-store-memory.js').MemoryPresenceStore
  for (const user of users) {
    const record = store.record(user)
    t.equal(record?.presence, 'offline')
    t.type(record?.lastActiveAt, Date)
  }
})
