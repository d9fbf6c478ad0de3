/**
 * Contract section 3, message handling: ping/pong to the asking connection
 * only; every `error` this service sends for bad input, with the connection
 * still usable after it and nothing broadcast for it; auth:refresh; and
 * frames sent before `connected` answered after it.
 */
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { build, claims, forgeToken, GatedPresenceStore, objectId, OTHER_SECRET, signToken, TestClient, withoutOffset, type ServerMessage } from './helper.js'
import { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'
import { internalsOf } from '../plugins/internals.js'

// These tests send many frames back to back: the rate limit has its own tests.
const UNLIMITED = { realtime: { rateLimitPerSec: 100_000, rateLimitBurst: 100_000 } }

const ERROR_FIELDS = ['code', 'message', 'request_type', 'details']

interface Expected {
  code: string
  /** The type of the message at fault, when the server can know it. */
  requestType?: string
  /** `details.field`, for invalid_message. */
  field?: string
}

/** Checks an `error` message: the envelope, exactly the contract's fields under data, and the expected values. */
function checkError(t: Test, message: ServerMessage, expected: Expected, label: string): void {
  t.equal(message.type, 'error', `${label}: an error`)
  t.same(Object.keys(message).sort(), ['data', 'type'], `${label}: { type, data }`)
  const data = message.data
  const extra = Object.keys(data).filter((key) => !ERROR_FIELDS.includes(key))
  t.same(extra, [], `${label}: data has only code, message, request_type?, details?`)
  t.equal(data.code, expected.code, `${label}: code ${expected.code}`)
  t.type(data.message, 'string', `${label}: message is a string`)
  t.ok(String(data.message).length > 0, `${label}: message says why`)
  if ('request_type' in data) t.type(data.request_type, 'string', `${label}: request_type is a string`)
  if (expected.requestType !== undefined) t.equal(data.request_type, expected.requestType, `${label}: request_type ${expected.requestType}`)
  if (expected.field !== undefined) {
    t.type(data.details, 'object', `${label}: details`)
    t.equal(data.details?.field, expected.field, `${label}: details.field ${JSON.stringify(expected.field)}`)
  }
}

/** Sends `frame`, expects the error as the very next message, then proves the connection usable (and that nothing else came). */
async function expectError(t: Test, client: TestClient, frame: unknown, expected: Expected, label: string): Promise<ServerMessage> {
  client.send(frame)
  const message = await client.next()
  checkError(t, message, expected, label)
  t.same(await client.sync(), [], `${label}: still usable, and one error only`)
  t.equal(client.closeCode, undefined, `${label}: the connection stays open`)
  return message
}

t.test('ping', async (t) => {
  const { connect } = await build(t, UNLIMITED)
  const alice = objectId()
  const bob = objectId()
  // Bob first, then alice: alice's connections receive nothing unasked; bob's presence news is read now.
  const b = await connect(bob)
  const a1 = await connect(alice)
  const a2 = await connect(alice)
  t.same(await b.sync(), [{ type: 'presence:update', data: { user_id: alice, presence: 'online' } }])

  /** `ping` from `asker`: one pong {} to it; alice's other connection and bob get nothing. */
  async function pongToAskerOnly(t: Test, ping: unknown, asker: TestClient, otherTab: TestClient) {
    asker.send(ping)
    t.same(await asker.next(), { type: 'pong', data: {} }, 'the next message is pong with data {}')
    t.same(await asker.sync(), [], 'one pong')
    t.same(await otherTab.sync(), [], 'the same user’s other connection gets nothing')
    t.same(await b.sync(), [], 'another user gets nothing')
  }

  t.test('without data: pong {} to this connection only', (t) => pongToAskerOnly(t, { type: 'ping' }, a1, a2))
  t.test('with data {}: pong {} to this connection only', (t) => pongToAskerOnly(t, { type: 'ping', data: {} }, a2, a1))

  t.test('each ping gets its own pong, in order', async (t) => {
    for (let i = 0; i < 5; i++) a1.send({ type: 'ping' })
    for (let i = 0; i < 5; i++) t.same(await a1.next(), { type: 'pong', data: {} })
    t.same(await a1.sync(), [])
  })
})

t.test('invalid_json', async (t) => {
  const { connect } = await build(t, UNLIMITED)
  const client = await connect(objectId())
  const cases: Array<[string, string]> = [
    ['not JSON', 'hello'],
    ['truncated JSON', '{"type":"ping"'],
    ['JSON with a trailing comma', '{"type":"ping",}'],
    ['empty text frame', ''],
  ]
  for (const [label, frame] of cases) {
    await t.test(label, async (t) => {
      await expectError(t, client, frame, { code: 'invalid_json' }, label)
    })
  }
  await t.test('a binary frame, even of valid JSON', async (t) => {
    client.socket.send(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true })
    const message = await client.next()
    checkError(t, message, { code: 'invalid_json' }, 'binary')
    t.same(await client.sync(), [], 'still usable')
  })
})

t.test('invalid_message names the field', async (t) => {
  const { connect } = await build(t, UNLIMITED)
  const client = await connect(objectId())
  const channel = objectId()
  const cases: Array<[string, unknown, string | undefined, string]> = [
    ['typing:start without data', { type: 'typing:start' }, 'typing:start', '/data'],
    ['typing:start with data null', { type: 'typing:start', data: null }, 'typing:start', '/data'],
    ['typing:start with data a string', { type: 'typing:start', data: channel }, 'typing:start', '/data'],
    ['typing:start with data an array', { type: 'typing:start', data: [channel] }, 'typing:start', '/data'],
    ['typing:start with no channel_id', { type: 'typing:start', data: {} }, 'typing:start', '/data/channel_id'],
    ['typing:start with channel_id a number', { type: 'typing:start', data: { channel_id: 5 } }, 'typing:start', '/data/channel_id'],
    ['typing:stop with channel_id not an ObjectId', { type: 'typing:stop', data: { channel_id: 'general' } }, 'typing:stop', '/data/channel_id'],
    ['typing:start with channel_id of 25 hex digits', { type: 'typing:start', data: { channel_id: `${channel}a` } }, 'typing:start', '/data/channel_id'],
    ['typing:start with channel_id of 24 non-hex characters', { type: 'typing:start', data: { channel_id: 'g'.repeat(24) } }, 'typing:start', '/data/channel_id'],
    ['typing:start with an extra field in data', { type: 'typing:start', data: { channel_id: channel, text: 'hi' } }, 'typing:start', '/data/text'],
    ['typing:start with an extra top-level field', { type: 'typing:start', data: { channel_id: channel }, id: 1 }, 'typing:start', '/id'],
    ['ping with an extra field in data', { type: 'ping', data: { at: 1 } }, 'ping', '/data/at'],
    ['ping with an extra top-level field', { type: 'ping', id: 7 }, 'ping', '/id'],
    ['ping with data a string', { type: 'ping', data: 'x' }, 'ping', '/data'],
    ['ping with data null', { type: 'ping', data: null }, 'ping', '/data'],
    ['presence:update with an unknown presence', { type: 'presence:update', data: { presence: 'away' } }, 'presence:update', '/data/presence'],
    ['presence:update offline', { type: 'presence:update', data: { presence: 'offline' } }, 'presence:update', '/data/presence'],
    ['presence:update with presence of the wrong case', { type: 'presence:update', data: { presence: 'Online' } }, 'presence:update', '/data/presence'],
    ['presence:update with presence a number', { type: 'presence:update', data: { presence: 1 } }, 'presence:update', '/data/presence'],
    ['presence:update without data', { type: 'presence:update' }, 'presence:update', '/data'],
    ['auth:refresh with token a number', { type: 'auth:refresh', data: { token: 42 } }, 'auth:refresh', '/data/token'],
    ['auth:refresh with no token', { type: 'auth:refresh', data: {} }, 'auth:refresh', '/data/token'],
    ['JSON that is an array', [{ type: 'ping' }], undefined, ''],
    ['JSON that is a number', 42, undefined, ''],
    ['JSON that is a string', 'ping', undefined, ''],
    ['JSON null', null, undefined, ''],
    ['missing type', { data: {} }, undefined, '/type'],
    ['type a number', { type: 7, data: {} }, undefined, '/type'],
  ]
  for (const [label, message, requestType, field] of cases) {
    await t.test(label, async (t) => {
      // Primitives are sent as their JSON text ('ping' as "ping"), not as a raw string.
      const frame = typeof message === 'string' ? JSON.stringify(message) : message
      await expectError(t, client, frame, { code: 'invalid_message', requestType, field }, label)
    })
  }
})

t.test('unknown_type echoes the type', async (t) => {
  const { connect } = await build(t, UNLIMITED)
  const client = await connect(objectId())
  const types = ['typing:begin', 'message:create', 'connected', 'pong', 'error', 'PING', '', 'toString', '__proto__']
  for (const type of types) {
    await t.test(`type ${JSON.stringify(type)}`, async (t) => {
      await expectError(t, client, { type, data: {} }, { code: 'unknown_type', requestType: type }, type)
    })
  }
})

t.test('forbidden: typing in a channel the sender is not a member of', async (t) => {
  const { app, connect } = await build(t, UNLIMITED)
  const membership = internalsOf(app).realtimeStores.membership as MemoryMembershipStore
  const alice = objectId()
  const bob = objectId()
  const bobsChannel = objectId()
  membership.addMember(bobsChannel, bob)
  const b = await connect(bob)
  const a = await connect(alice)
  t.same(await b.sync(), [{ type: 'presence:update', data: { user_id: alice, presence: 'online' } }])

  for (const type of ['typing:start', 'typing:stop']) {
    await t.test(`${type} in another's channel`, async (t) => {
      await expectError(t, a, { type, data: { channel_id: bobsChannel } }, { code: 'forbidden', requestType: type }, type)
      t.same(await b.sync(), [], 'the channel’s member receives nothing')
    })
    await t.test(`${type} in a channel nobody is in`, async (t) => {
      await expectError(t, a, { type, data: { channel_id: objectId() } }, { code: 'forbidden', requestType: type }, type)
    })
  }
})

t.test('auth:refresh', async (t) => {
  const { app, connect } = await build(t, UNLIMITED)
  const alice = objectId()
  const client = await connect(alice)
  const connection = () => {
    const senders = [...app.wsRegistry.senders(alice)]
    t.equal(senders.length, 1, 'one connection registered')
    return senders[0]!
  }
  const originalExpiry = connection().expiresAt
  const now = Math.floor(Date.now() / 1000)

  const refused: Array<[string, string]> = [
    ['garbage', 'not-a-jwt'],
    ['badly signed', signToken(claims(alice, { exp: now + 7200 }), OTHER_SECRET)],
    ['expired', signToken(claims(alice, { iat: now - 7200, exp: now - 60 }))],
    ['a refresh token', signToken(claims(alice, { exp: now + 7200, token_type: 'refresh' }))],
    ['wrong iss', signToken(claims(alice, { exp: now + 7200, iss: 'someone-else' }))],
    ['alg none', forgeToken({ alg: 'none', typ: 'JWT' }, claims(alice, { exp: now + 7200 }))],
    ['HS512', forgeToken({ alg: 'HS512', typ: 'JWT' }, claims(alice, { exp: now + 7200 }))],
    ['a valid access token of another user', signToken(claims(objectId(), { exp: now + 7200 }))],
    ['a sub that is not an ObjectId', signToken(claims('not-an-object-id', { exp: now + 7200 }))],
  ]
  for (const [label, token] of refused) {
    await t.test(`unauthorized: ${label}`, async (t) => {
      const message = await expectError(
        t,
        client,
        { type: 'auth:refresh', data: { token } },
        { code: 'unauthorized', requestType: 'auth:refresh' },
        label,
      )
      t.notOk(JSON.stringify(message).includes(token), 'the error does not echo the token')
      t.equal(connection().expiresAt, originalExpiry, 'the connection’s expiry did not change')
    })
  }

  await t.test('a valid access token of the same user is accepted and extends the connection', async (t) => {
    const exp = now + 7200
    client.send({ type: 'auth:refresh', data: { token: signToken(claims(alice, { exp })) } })
    t.same(await client.sync(), [], 'no error, no answer')
    t.equal(connection().expiresAt, exp * 1000, 'the connection now expires with the new token')
    t.equal(client.closeCode, undefined)
  })
})

t.test('nothing is broadcast for bad input', async (t) => {
  const { app, connect } = await build(t, UNLIMITED)
  const membership = internalsOf(app).realtimeStores.membership as MemoryMembershipStore
  const alice = objectId()
  const bob = objectId()
  const shared = objectId()
  const bobsOwn = objectId()
  membership.addMember(shared, alice)
  membership.addMember(shared, bob)
  membership.addMember(bobsOwn, bob)
  // Bob first, then alice; bob reads the news of alice coming online before the test starts.
  const b = await connect(bob)
  const a = await connect(alice)
  t.same(await b.sync(), [{ type: 'presence:update', data: { user_id: alice, presence: 'online' } }])

  const bad: Array<[unknown, string]> = [
    ['{"type":"typing:start","data":{"channel_id":"' + shared + '"}', 'invalid_json'],
    [{ type: 'typing:start', data: { channel_id: shared, extra: true } }, 'invalid_message'],
    [{ type: 'typing:start', data: { channel_id: shared }, extra: true }, 'invalid_message'],
    [{ type: 'typing:start', data: { channel_id: shared.slice(1) } }, 'invalid_message'],
    [{ type: 'typing:start' }, 'invalid_message'],
    [{ type: 'typing:begin', data: { channel_id: shared } }, 'unknown_type'],
    [{ type: 'typing:start', data: { channel_id: bobsOwn } }, 'forbidden'],
    [{ type: 'presence:update', data: { presence: 'offline' } }, 'invalid_message'],
    [{ type: 'presence:update', data: { presence: 'away' } }, 'invalid_message'],
    [{ type: 'presence:update', data: { presence: 'dnd', extra: 1 } }, 'invalid_message'],
    [{ type: 'presence:update', data: { presence: 'dnd' }, to: bob }, 'invalid_message'],
    [{ type: 'auth:refresh', data: { token: 'not-a-jwt' } }, 'unauthorized'],
  ]
  for (const [frame, code] of bad) {
    a.send(frame)
    checkError(t, await a.next(), { code }, JSON.stringify(frame))
  }
  t.same(await a.sync(), [], 'the sender got one error each')
  t.same(await b.sync(), [], 'the other member received nothing')

  // The control: the same observer does receive what valid input sends.
  a.send({ type: 'typing:start', data: { channel_id: shared } })
  t.same(await b.next(), { type: 'typing:start', data: { channel_id: shared, user_id: alice } }, 'valid typing reaches the member')
  a.send({ type: 'presence:update', data: { presence: 'dnd' } })
  t.same(await b.next(), { type: 'presence:update', data: { user_id: alice, presence: 'dnd' } }, 'a valid presence reaches others')
})

t.test('frames sent on open, before connected, are answered after connected', async (t) => {
  t.test('with the ordinary store', async (t) => {
    const { wsUrl, token } = await build(t, UNLIMITED)
    const user = objectId()
    const socket = new WebSocket(`${wsUrl}?token=${token(user)}`)
    const client = new TestClient(socket)
    t.teardown(() => socket.terminate())
    socket.once('open', () => client.send({ type: 'ping' }))
    t.same(withoutOffset(await client.next()), { type: 'connected', data: { user_id: user } }, 'connected first')
    t.same(await client.next(), { type: 'presence:update', data: { user_id: user, presence: 'online' } }, 'then the user’s own presence')
    t.same(await client.next(), { type: 'pong', data: {} }, 'then the pong')
  })

  t.test('while the presence read is still pending', async (t) => {
    // The presence read waits until the server holds every early frame, so
    // they are sure to arrive before `connected` can be sent.
    const presence = new GatedPresenceStore()
    const { app, wsUrl, token } = await build(t, { ...UNLIMITED, stores: { presence, membership: new MemoryMembershipStore() } })
    const early = [{ type: 'ping' }, 'not json', { type: 'nope', data: {} }, { type: 'ping', data: {} }]
    let seen = 0
    app.websocketServer.on('connection', (serverSocket: WebSocket) => {
      serverSocket.on('message', () => {
        if (++seen === early.length) presence.release()
      })
    })
    const user = objectId()
    const socket = new WebSocket(`${wsUrl}?token=${token(user)}`)
    const client = new TestClient(socket)
    t.teardown(() => socket.terminate())
    socket.once('open', () => {
      for (const frame of early) client.send(frame)
    })
    t.same(withoutOffset(await client.next()), { type: 'connected', data: { user_id: user } }, 'connected first')
    t.same(await client.next(), { type: 'presence:update', data: { user_id: user, presence: 'online' } }, 'then the user’s own presence')
    t.same(await client.next(), { type: 'pong', data: {} }, 'the first ping answered')
    checkError(t, await client.next(), { code: 'invalid_json' }, 'the non-JSON frame')
    checkError(t, await client.next(), { code: 'unknown_type', requestType: 'nope' }, 'the unknown type')
    t.same(await client.next(), { type: 'pong', data: {} }, 'the last ping answered')
    t.same(await client.sync(), [], 'nothing else')
    t.equal(seen, early.length + 1, 'the server saw every frame')
  })
})
