/**
 * Contract section 2, connecting: every refusal is answered before the
 * upgrade with its status and JSON body, `connected` comes first, each
 * connection is registered under its user until it closes, and no log line
 * carries a token.
 */
import { createHmac } from 'node:crypto'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import {
  build,
  claims,
  connect,
  eventually,
  forgeToken,
  GatedPresenceStore,
  objectId,
  OTHER_SECRET,
  refusal,
  SECRET,
  signToken,
  TestClient,
  withoutOffset,
} from './helper.js'
import { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'

/** The token with one character of its signature changed. */
function tamper(token: string): string {
  const at = token.lastIndexOf('.') + 5
  return `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`
}

/** `/ws` with this token in the query. */
function withToken(wsUrl: string, token: string): string {
  return `${wsUrl}?token=${encodeURIComponent(token)}`
}

/** Expects a refusal before the upgrade with `status` and the JSON body `{ error, message }`. */
async function expectRefusal(t: Test, url: string, status: number, error?: string, headers?: Record<string, string>) {
  const answer = await refusal(url, headers)
  t.equal(answer.status, status, `answered ${status}`)
  t.type(answer.body, 'object', 'the body is JSON')
  t.same(Object.keys(answer.body).sort(), ['error', 'message'], 'the body is { error, message }')
  if (error !== undefined) t.equal(answer.body.error, error, `error is ${error}`)
  else t.type(answer.body.error, 'string')
  t.type(answer.body.message, 'string')
  t.ok(String(answer.body.message).length > 0, 'the message says why')
  return answer
}

/** Opens /ws at `url` and settles on the upgrade or its refusal, without waiting for `connected`. */
function open(t: Test, url: string): Promise<{ client: TestClient } | { status: number }> {
  const socket = new WebSocket(url)
  const client = new TestClient(socket)
  t.teardown(() => {
    if (client.closeCode === undefined) socket.terminate()
  })
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ client }))
    socket.once('unexpected-response', (_req, res) => {
      res.resume()
      resolve({ status: res.statusCode ?? 0 })
    })
    socket.once('error', (error) => {
      if (!String(error.message).includes('Unexpected server response')) reject(error)
    })
  })
}

t.test('refusals before the upgrade', async (t) => {
  const { app, wsUrl } = await build(t)
  const user = objectId()

  const unauthorized: Array<[string, () => string]> = [
    ['token missing', () => wsUrl],
    ['token empty', () => `${wsUrl}?token=`],
    ['garbage, not a JWT', () => withToken(wsUrl, 'not-a-jwt')],
    ['three segments of garbage', () => withToken(wsUrl, 'abc.def.ghi')],
    ['badly signed (another secret)', () => withToken(wsUrl, signToken(claims(user), OTHER_SECRET))],
    ['signature tampered with', () => withToken(wsUrl, tamper(signToken(claims(user))))],
    ['expired', () => withToken(wsUrl, signToken(claims(user, { iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 60 })))],
    ['wrong iss', () => withToken(wsUrl, signToken(claims(user, { iss: 'someone-else' })))],
    ['no iss', () => withToken(wsUrl, signToken(claims(user, { iss: undefined })))],
    ['token_type refresh', () => withToken(wsUrl, signToken(claims(user, { token_type: 'refresh' })))],
    ['no token_type', () => withToken(wsUrl, signToken(claims(user, { token_type: undefined })))],
    ['alg none, unsigned', () => withToken(wsUrl, forgeToken({ alg: 'none', typ: 'JWT' }, claims(user)))],
    ['HS512 signed with the same secret', () => withToken(wsUrl, forgeToken({ alg: 'HS512', typ: 'JWT' }, claims(user)))],
    [
      'header claims RS256, HMAC-SHA256 signature with the secret',
      () => {
        const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
        const input = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(claims(user))}`
        return withToken(wsUrl, `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`)
      },
    ],
    ['header claims RS256, unsigned', () => withToken(wsUrl, forgeToken({ alg: 'RS256', typ: 'JWT' }, claims(user)))],
    ['missing exp', () => withToken(wsUrl, signToken(claims(user, { exp: undefined })))],
  ]
  for (const [name, url] of unauthorized) {
    t.test(`401 unauthorized: ${name}`, async (t) => {
      await expectRefusal(t, url(), 401, 'unauthorized')
    })
  }

  const badSubjects: Array<[string, string]> = [
    ['not hex at all', 'not-an-object-id'],
    ['24 characters, not hex', 'zzzzzzzzzzzzzzzzzzzzzzzz'],
    ['25 hex digits', `${objectId()}a`],
    ['23 hex digits', objectId().slice(1)],
  ]
  for (const [name, sub] of badSubjects) {
    t.test(`400 bad_request: sub ${name}, correctly signed`, async (t) => {
      await expectRefusal(t, withToken(wsUrl, signToken(claims(sub))), 400, 'bad_request')
    })
  }

  t.test('the refused message never echoes the token', async (t) => {
    const token = signToken(claims(user, { token_type: 'refresh' }))
    const { body } = await expectRefusal(t, withToken(wsUrl, token), 401, 'unauthorized')
    t.notOk(JSON.stringify(body).includes(token))
  })

  t.test('no refused request was upgraded or registered', async (t) => {
    t.equal(app.wsRegistry.connectionCount, 0)
    t.equal(app.websocketServer.clients.size, 0)
    t.same([...app.wsRegistry.userIds()], [])
  })
})

t.test('403 when CORS origins are set and Origin is absent or another', async (t) => {
  const { wsUrl, token, connect } = await build(t, { app: { corsOrigins: ['https://chat.example'] } })
  const user = objectId()
  const url = withToken(wsUrl, token(user))

  await t.test('no Origin', async (t) => {
    await expectRefusal(t, url, 403)
  })
  await t.test('another Origin', async (t) => {
    await expectRefusal(t, url, 403, undefined, { Origin: 'https://evil.example' })
  })
  await t.test('a look-alike of the allowed Origin', async (t) => {
    await expectRefusal(t, url, 403, undefined, { Origin: 'https://chat.example.evil.example' })
  })
  await t.test('the allowed Origin connects', async (t) => {
    const client = await connect(user, { headers: { Origin: 'https://chat.example' } })
    t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } })
  })
})

t.test('without CORS origins any Origin connects', async (t) => {
  const { connect } = await build(t)
  const user = objectId()
  const client = await connect(user, { headers: { Origin: 'https://anywhere.example' } })
  t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } })
})

t.test('429 past maxConnectionsPerUser, and a closed connection frees its slot', async (t) => {
  const { app, wsUrl, token, connect } = await build(t, { realtime: { maxConnectionsPerUser: 2 } })
  const user = objectId()
  const first = await connect(user)
  await connect(user)

  await expectRefusal(t, withToken(wsUrl, token(user)), 429)
  t.equal(app.wsRegistry.senders(user).size, 2, 'the refused attempt was not registered')

  const other = objectId()
  const otherClient = await connect(other)
  t.same(withoutOffset(otherClient.received[0]!), { type: 'connected', data: { user_id: other } }, 'the limit is per user')

  await first.close()
  await eventually(() => app.wsRegistry.senders(user).size === 1, undefined, 'the closed connection is unregistered')
  const again = await connect(user)
  t.same(withoutOffset(again.received[0]!), { type: 'connected', data: { user_id: user } }, 'the freed slot takes a new connection')
  await expectRefusal(t, withToken(wsUrl, token(user)), 429)
})

t.test('429 also counts connections opened at once, before their presence is settled', async (t) => {
  // Presence reads wait on the test, as a slow database would make them: the
  // upgrades are open, none has received `connected` yet.
  const presence = new GatedPresenceStore()
  const { app, wsUrl, token } = await build(t, {
    realtime: { maxConnectionsPerUser: 2 },
    stores: { presence, membership: new MemoryMembershipStore() },
  })
  const user = objectId()
  const attempts = await Promise.all([1, 2, 3, 4].map(() => open(t, withToken(wsUrl, token(user)))))
  presence.release()
  const upgraded = attempts.flatMap((attempt) => ('client' in attempt ? [attempt.client] : []))
  const refused = attempts.flatMap((attempt) => ('status' in attempt ? [attempt.status] : []))
  t.equal(upgraded.length, 2, 'exactly maxConnectionsPerUser upgrades')
  t.same(refused, [429, 429], 'the others get 429')
  for (const client of upgraded) t.same((await client.next()).type, 'connected')
  t.equal(app.wsRegistry.senders(user).size, 2)
})

t.test('connected { user_id } is the first message', async (t) => {
  const { connect } = await build(t)
  const user = objectId()
  const client = await connect(user)
  t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } })
  t.same(client.unread(), [], 'nothing else before the first ping')
  t.same(await client.sync(), [], 'connected came alone')
})

t.test('a user with several connections: each registered, each removed when it closes', async (t) => {
  const { app, connect } = await build(t)
  const alice = objectId()
  const bob = objectId()

  // Bob first: alice's connections then receive nothing they did not ask for.
  const b1 = await connect(bob)
  const a1 = await connect(alice)
  const a2 = await connect(alice)
  const a3 = await connect(alice)
  for (const [client, user] of [
    [a1, alice],
    [a2, alice],
    [a3, alice],
    [b1, bob],
  ] as const) {
    t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } }, 'each connection gets connected first')
  }

  t.equal(app.wsRegistry.senders(alice).size, 3, 'three connections under alice')
  t.equal(app.wsRegistry.senders(bob).size, 1)
  t.equal(app.wsRegistry.connectionCount, 4)
  t.same([...app.wsRegistry.userIds()].sort(), [alice, bob].sort())
  t.ok([...app.wsRegistry.senders(alice)].every((connection) => connection.userId === alice))

  await a1.close()
  await eventually(() => app.wsRegistry.senders(alice).size === 2, undefined, 'a closed connection is removed')
  t.equal(app.wsRegistry.connectionCount, 3)
  t.same(await a2.sync(), [], 'the user’s other connections stay usable')

  await a2.kill()
  await eventually(() => app.wsRegistry.senders(alice).size === 1, undefined, 'a dropped TCP connection is removed')
  t.equal(app.wsRegistry.connectionCount, 2)

  await a3.close()
  await eventually(() => app.wsRegistry.senders(alice).size === 0, undefined, 'the last connection is removed')
  t.equal(app.wsRegistry.connectionCount, 1)
  t.same([...app.wsRegistry.userIds()], [bob], 'a user with no connection is no longer listed')

  await b1.close()
  await eventually(() => app.wsRegistry.connectionCount === 0, undefined, 'every connection is removed')
  t.same([...app.wsRegistry.userIds()], [])
})

t.test('no log line contains a token', async (t) => {
  const { app, url, wsUrl, logs, token } = await build(t)
  const user = objectId()

  const connected = token(user)
  const client = await connect(t, wsUrl, connected)
  t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } })

  const refused = signToken(claims(user), OTHER_SECRET)
  await expectRefusal(t, withToken(wsUrl, refused), 401, 'unauthorized')
  const expired = signToken(claims(user, { exp: Math.floor(Date.now() / 1000) - 60 }))
  await expectRefusal(t, withToken(wsUrl, expired), 401, 'unauthorized')

  const bearer = token(user, { iat: Math.floor(Date.now() / 1000) - 1 })
  const response = await fetch(`${url}/presence?user_ids=${user}`, { headers: { authorization: `Bearer ${bearer}` } })
  t.equal(response.status, 200)
  t.same(await response.json(), { presences: { [user]: 'online' } })

  await client.close()
  await eventually(() => app.wsRegistry.connectionCount === 0)
  // Every request has logged its completion once the refused and HTTP ones have.
  await eventually(() => logs.filter((line) => line.includes('request completed')).length >= 3, undefined, 'the requests were logged')

  const tokens = { connected, refused, expired, bearer }
  t.equal(new Set(Object.values(tokens)).size, 4, 'four different tokens')
  for (const [name, value] of Object.entries(tokens)) {
    const signature = value.split('.')[2]!
    t.notOk(
      logs.find((line) => line.includes(value) || line.includes(signature)),
      `no log line contains the ${name} token`,
    )
  }
  const wsLines = logs.filter((line) => line.includes('/ws?'))
  t.equal(wsLines.length, 3, 'each /ws request is logged once')
  for (const line of wsLines) t.ok(line.includes('"url":"/ws?token=[REDACTED]"'), 'the URL is logged with the token replaced')
})

t.test('a token is kept out of the logs however the query spells it', async (t) => {
  const { wsUrl, logs, token } = await build(t)
  const user = objectId()
  const first = token(user, { iat: Math.floor(Date.now() / 1000) - 1 })
  const second = token(user, { iat: Math.floor(Date.now() / 1000) - 2 })
  const third = token(user, { iat: Math.floor(Date.now() / 1000) - 3 })

  // A repeated key, and a key written with a percent-escape (the query parser decodes keys).
  await open(t, `${wsUrl}?token=${first}&token=${second}`)
  await open(t, `${wsUrl}?%74oken=${third}`)
  await eventually(() => logs.filter((line) => line.includes('incoming request') && line.includes('/ws?')).length >= 2)
  for (const [name, value] of Object.entries({ first, second, third })) {
    t.notOk(
      logs.find((line) => line.includes(value.split('.')[2]!)),
      `no log line contains the ${name} token`,
    )
  }
})
