import t from 'tap'
import type { WebSocket } from 'ws'
import { build, eventually, GatedPresenceStore, objectId, refusal, WAIT_MS } from './helper.js'
import { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'
import { MAX_UNHANDLED_FRAMES } from '../lib/protocol/lanes.js'
import { CloseCode } from '../lib/connections/close-codes.js'
import { Connection, MAX_DROPS_IN_A_ROW } from '../lib/connections/connection.js'
import { internalsOf } from '../plugins/internals.js'

t.test('past its burst a connection gets rate_limited, and a run of drops closes it with 1008', async (t) => {
  const { connect, app } = await build(t, { realtime: { rateLimitPerSec: 1, rateLimitBurst: 5 } })
  const observer = await connect(objectId())
  const client = await connect(objectId())
  for (let i = 0; i < 5; i++) client.send({ type: 'ping' })
  for (let i = 0; i < 5; i++) t.same(await client.next(), { type: 'pong', data: {} }, `ping ${i + 1} within the burst`)
  client.send({ type: 'ping' })
  const dropped = await client.next()
  t.equal(dropped.type, 'error')
  t.equal(dropped.data.code, 'rate_limited')
  t.equal(client.closeCode, undefined, 'one drop does not close')
  for (let i = 1; i < MAX_DROPS_IN_A_ROW; i++) client.send({ type: 'presence:update', data: { presence: 'dnd' } })
  const { code } = await client.closed
  t.equal(code, CloseCode.POLICY_VIOLATION)
  const errors = client.received.filter((m) => m.type === 'error')
  t.equal(errors.length, MAX_DROPS_IN_A_ROW, 'every dropped message was answered')
  t.ok(errors.every((m) => m.data.code === 'rate_limited'))
  t.notOk(client.received.some((m) => m.type === 'presence:update' && m.data.presence === 'dnd'), 'dropped messages had no effect')
  t.same(
    (await observer.sync()).filter((m) => m.data.presence === 'dnd'),
    [],
    'no one else saw the dropped presence changes',
  )
  t.equal(internalsOf(app).realtimeMetrics.closes.get('rate_limited'), 1)
})

/** A socket that only counts what it is given (a unit test of the bucket alone). */
function fakeSocket(): WebSocket {
  return { send() {}, bufferedAmount: 0, close() {}, terminate() {} } as unknown as WebSocket
}

t.test('the token bucket refills at RATE_LIMIT_PER_SEC up to RATE_LIMIT_BURST', async (t) => {
  const connection = new Connection(objectId(), fakeSocket(), Date.now() + 60_000, {
    maxBufferedBytes: 1 << 20,
    rateLimitPerSec: 10,
    rateLimitBurst: 3,
  })
  const start = Date.now()
  t.ok(connection.takeToken(start) && connection.takeToken(start) && connection.takeToken(start), 'the burst')
  t.notOk(connection.takeToken(start), 'then empty')
  t.notOk(connection.takeToken(start + 50), 'half a token after 50 ms at 10/s')
  t.ok(connection.takeToken(start + 100), 'one token after 100 ms')
  t.notOk(connection.takeToken(start + 100))
  t.ok(connection.takeToken(start + 10_000) && connection.takeToken(start + 10_000) && connection.takeToken(start + 10_000))
  t.notOk(connection.takeToken(start + 10_000), 'a long pause refills only up to the burst')
})

t.test('a client that does not read is closed with 1013 once its unsent output passes MAX_BUFFERED_BYTES', async (t) => {
  const { connect, app } = await build(t, { realtime: { maxBufferedBytes: 64 * 1024 } })
  const slow = objectId()
  const reader = await connect(objectId())
  const client = await connect(slow)
  // ws's own pause: it stops reading the TCP socket and keeps it stopped.
  client.socket.pause()
  const event = { type: 'news', data: { body: 'x'.repeat(1024) } }
  const [serverSide] = app.wsRegistry.senders(slow)
  let sent = 0
  // Bounded: loopback buffers hold a few MB at most before the server's own buffer grows.
  while (!serverSide!.closed && sent < 50_000) {
    app.wsDispatcher.toEveryone(event)
    sent++
    if (sent % 200 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  t.ok(serverSide!.closed, `closed after ${sent} events`)
  t.ok(serverSide!.socket.bufferedAmount <= 64 * 1024 + 2048, 'its buffer stopped growing at the limit')
  client.socket.resume()
  t.equal((await client.closed).code, CloseCode.TRY_AGAIN_LATER)
  await eventually(() => internalsOf(app).realtimeMetrics.closes.get('slow_consumer') === 1, WAIT_MS, 'the close counted')
  t.equal(app.wsRegistry.senders(slow).size, 0, 'out of the registry')
  t.equal((await reader.sync()).filter((m) => m.type === 'news').length, sent, 'the reader got every event')
})

t.test('GET /metrics reports connections, messages by type, errors by code, refusals and closes', async (t) => {
  const { connect, url, wsUrl } = await build(t)
  const a = await connect(objectId())
  await connect(objectId())
  a.send({ type: 'ping' })
  await a.next('pong')
  a.send('not json')
  await a.next('error')
  await refusal(`${wsUrl}?token=garbage`)
  const text = await (await fetch(`${url}/metrics`)).text()
  const value = (line: string) => Number(text.split('\n').find((l) => l.startsWith(`${line} `))?.split(' ')[1])
  t.equal(value('roomler_connections'), 2)
  t.equal(value('roomler_users'), 2)
  t.equal(value('roomler_connections_opened_total'), 2)
  t.equal(value('roomler_messages_in_total{type="ping"}'), 1)
  t.equal(value('roomler_messages_in_total{type="invalid"}'), 1)
  t.equal(value('roomler_messages_out_total{type="pong"}'), 1)
  t.equal(value('roomler_messages_out_total{type="connected"}'), 2)
  t.equal(value('roomler_errors_total{code="invalid_json"}'), 1)
  t.equal(value('roomler_upgrades_refused_total{status="401"}'), 1)
  t.match(text, /# TYPE roomler_connections_closed_total counter/)
  await a.close()
  const after = await (await fetch(`${url}/metrics`)).text()
  t.match(after, /roomler_connections_closed_total\{reason="client"\} 1/)
})

t.test('event types that only look like the protocol’s (error_1, pongX) count toward METRICS_EVENT_TYPES, then as other', async (t) => {
  const key = 'limits-test-key-0123456789abcdef'
  const { connect, url, app } = await build(t, { realtime: { apiKey: key, metricsEventTypes: 5, rateLimitPerSec: 1000, rateLimitBurst: 1000 } })
  const client = await connect(objectId())
  await client.sync()
  // A host may push what POST /publish refuses: types of the protocol's families that the protocol does not define.
  const pushed = Array.from({ length: 20 }, (_, i) => `typing:x${i}`)
  for (const type of pushed) app.wsDispatcher.toEveryone({ type, data: {} })
  const lookalikes = ['error_1', 'pongX', 'connected2', 'errors', 'pong-', 'typing', 'presence', 'auth', 'authz:x']
  const types = [...lookalikes, ...Array.from({ length: 50 }, (_, i) => `error_${i + 2}`)]
  for (const type of types) {
    const answer = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ type, data: {}, everyone: true }),
    })
    t.equal(answer.status, 202, `${type} is published`)
  }
  await client.sync()
  const received = client.received.filter((m) => types.includes(m.type) || pushed.includes(m.type))
  t.equal(received.length, types.length + pushed.length, 'the client received each one')
  const text = await (await fetch(`${url}/metrics`)).text()
  const labels = [...text.matchAll(/^roomler_messages_out_total\{type="([^"]*)"\} (\d+)$/gm)].map((m) => ({ type: m[1]!, count: Number(m[2]) }))
  const protocol = new Set(['connected', 'pong', 'error', 'presence:update', 'typing:start', 'typing:stop'])
  const application = labels.filter((label) => !protocol.has(label.type) && label.type !== 'other')
  t.equal(application.length, 5, `5 application labels (METRICS_EVENT_TYPES), not ${types.length}`)
  t.equal(labels.find((label) => label.type === 'other')?.count, types.length + pushed.length - 5, 'the rest count as other')
  t.ok(labels.some((label) => label.type === 'connected'), 'the protocol’s own types keep their label')
})

t.test('frames past the bound before connected are each answered rate_limited once connected is out', async (t) => {
  // The user's chosen state is read slowly: the connection is open, `connected` has not gone out.
  const presence = new GatedPresenceStore()
  const { connect, app } = await build(t, {
    realtime: { rateLimitPerSec: 1000, rateLimitBurst: 1000 },
    stores: { presence, membership: new MemoryMembershipStore() },
  })
  const client = await connect(objectId(), { awaitConnected: false })
  const sent = MAX_UNHANDLED_FRAMES + 20
  for (let i = 0; i < sent; i++) client.send({ type: 'ping' })
  const metrics = internalsOf(app).realtimeMetrics
  await eventually(() => metrics.messagesIn.get('rate_limited') === 20, WAIT_MS, 'every frame reached the server before connected')
  presence.release()
  await eventually(() => client.received.filter((m) => m.type === 'pong' || m.type === 'error').length >= sent, WAIT_MS, 'every frame answered')
  t.equal(client.received[0]!.type, 'connected', 'connected first')
  t.equal(client.received.filter((m) => m.type === 'pong').length, MAX_UNHANDLED_FRAMES, 'the held frames are handled')
  const refused = client.received.filter((m) => m.type === 'error')
  t.equal(refused.length, 20, 'each frame past the bound gets an answer')
  t.ok(refused.every((m) => m.data.code === 'rate_limited'), 'rate_limited')
})

t.test('frames past the rate limit before connected are answered rate_limited once connected is out', async (t) => {
  const presence = new GatedPresenceStore()
  const { connect, app } = await build(t, {
    realtime: { rateLimitPerSec: 1, rateLimitBurst: 5 },
    stores: { presence, membership: new MemoryMembershipStore() },
  })
  const client = await connect(objectId(), { awaitConnected: false })
  // Fewer than the drops in a row that close the connection.
  for (let i = 0; i < 8; i++) client.send({ type: 'ping' })
  const metrics = internalsOf(app).realtimeMetrics
  await eventually(() => metrics.messagesIn.get('rate_limited') === 3, WAIT_MS, 'the three past the burst refused before connected')
  presence.release()
  await eventually(() => client.received.filter((m) => m.type === 'pong' || m.type === 'error').length >= 8, WAIT_MS, 'every frame answered')
  t.equal(client.received.filter((m) => m.type === 'pong').length, 5, 'the burst is handled')
  t.same(client.received.filter((m) => m.type === 'error').map((m) => m.data.code), ['rate_limited', 'rate_limited', 'rate_limited'], 'each frame past it gets rate_limited')
})
