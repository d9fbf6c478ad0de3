/**
 * The typed client (client/index.ts) against the running service: what it
 * delivers, what it sends, and how it survives drops, restarts and refusals.
 * Node has no global WebSocket before 22: the client gets `ws` injected.
 */
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { WebSocket } from 'ws'
import realtime, { type RealtimePluginOptions } from '../app.js'
import { RealtimeClient, type ClientState, type RealtimeClientOptions, type StateChange } from '../client/index.js'
import { MAX_DROPS_IN_A_ROW } from '../lib/connections/connection.js'
import type { Presence } from '../schemas/common.js'
import type { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'
import { ISSUER, SECRET, WAIT_MS, build, eventually, objectId, signToken } from './helper.js'
import { freePort } from './servers/ports.js'
import { nextMessage, nextState, stateIs } from './client/tools.js'
import { internalsOf } from '../plugins/internals.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

/** A client on `ws`, closed when the test ends, with every state change and message it reported. */
function client<E extends object = {}>(t: Test, options: Omit<RealtimeClientOptions, 'WebSocket'>) {
  const c = new RealtimeClient<E>({ WebSocket, ...options })
  const states: StateChange[] = []
  const messages: Array<{ type: string; data: any }> = []
  c.onState((change) => states.push(change))
  c.onMessage((message) => messages.push(message))
  t.teardown(() => c.close())
  return { c, states, messages, stateNames: () => states.map((s) => s.state) }
}





/** The service on a fixed port, as a restart brings it back. */
async function listenOn(port: number, options: RealtimePluginOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(realtime, { ...options, jwt: { secret: SECRET, issuer: ISSUER } })
  await app.listen({ port, host: '127.0.0.1' })
  return app
}

t.test('connects with a token: connecting, then open once `connected` arrives', async (t) => {
  const { wsUrl } = await build(t)
  const user = objectId()
  const { c, stateNames, messages } = client(t, { url: wsUrl, token: signToken({ sub: user }) })
  const connected = nextMessage(c, 'connected')
  c.connect()
  t.equal(c.state, 'connecting')
  await c.ready()
  t.same((await connected).data, { user_id: user, offset: c.offset }, 'the typed `connected` listener ran (with the offset the client keeps, contract section 8)')
  t.type(c.offset, 'string')
  t.equal(c.userId, user)
  t.same(stateNames(), ['connecting', 'open'])
  t.same(messages[0], { type: 'connected', data: { user_id: user, offset: c.offset } }, 'connected is the first message')
})

t.test('close() ends it for good, even while the upgrade is still under way', async (t) => {
  const { app, wsUrl } = await build(t)
  const user = objectId()
  const { c, stateNames } = client(t, { url: wsUrl, token: signToken({ sub: user }) })
  c.connect()
  c.close()
  t.same(stateNames(), ['connecting', 'closed'])
  await t.rejects(c.ready(), 'ready() rejects')
  await t.rejects(c.ping(), 'ping() rejects: not connected')
  // A client that did connect, then closes: the server sees the connection go.
  const other = client(t, { url: wsUrl, token: signToken({ sub: user }) })
  await other.c.connect().ready()
  other.c.close()
  await eventually(() => app.wsRegistry.connectionCount === 0, WAIT_MS, 'the server forgetting the connection')
  t.same(other.stateNames(), ['connecting', 'open', 'closed'])
})

t.test('startTyping renews itself while called, stops by itself after a quiet period; the others see one start and one stop', async (t) => {
  // The server ends an unrenewed typing:start after 800 ms; the burst lasts 1500 ms.
  const { app, wsUrl } = await build(t, { realtime: { typingTimeoutMs: 800, membershipCacheMs: 0 } })
  const membership = internalsOf(app).realtimeStores.membership as MemoryMembershipStore
  const channel = objectId()
  const [alice, bob] = [objectId(), objectId()]
  membership.addMember(channel, alice)
  membership.addMember(channel, bob)
  const a = client(t, { url: wsUrl, token: signToken({ sub: alice }), typing: { renewMs: 250, idleMs: 150 } })
  const b = client(t, { url: wsUrl, token: signToken({ sub: bob }) })
  await Promise.all([a.c.connect().ready(), b.c.connect().ready()])

  const started = nextMessage(b.c, 'typing:start')
  const stopped = nextMessage<{ data: { channel_id: string; user_id: string } }>(b.c, 'typing:stop').then((m) => ({ m, at: Date.now() }))
  const burstStart = Date.now()
  // A user typing: a keystroke every 40 ms for 1.5 s.
  await new Promise<void>((done) => {
    const keystrokes = setInterval(() => {
      if (Date.now() - burstStart >= 1500) {
        clearInterval(keystrokes)
        done()
      } else a.c.startTyping(channel)
    }, 40)
    a.c.startTyping(channel)
  })
  const burstEnd = Date.now()
  t.same((await started).data, { channel_id: channel, user_id: alice }, 'bob sees alice typing')

  const { m: stop, at } = await stopped
  t.same(stop.data, { channel_id: channel, user_id: alice }, 'bob sees alice stop')
  t.ok(at >= burstEnd, 'the typing lasted the whole burst: the renewals kept the server from ending it')
  const typingIn = (type: string) => internalsOf(app).realtimeMetrics.messagesIn.get(type)
  t.ok(typingIn('typing:start') >= 3, `the client renewed typing:start while called (${typingIn('typing:start')} sent)`)
  t.equal(typingIn('typing:stop'), 1, 'the stop was the client’s own, after the quiet period')
  t.same(b.messages.filter((m) => m.type.startsWith('typing:')).map((m) => m.type), ['typing:start', 'typing:stop'], 'renewals are not announced again')
  t.same(a.messages.filter((m) => m.type.startsWith('typing:')), [], 'alice hears nothing of her own typing')
})

t.test('setPresence: others see the visible presence, the user the real one; getPresence answers the same', async (t) => {
  const { wsUrl } = await build(t)
  const [alice, bob] = [objectId(), objectId()]
  const a = client(t, { url: wsUrl, token: signToken({ sub: alice }) })
  const b = client(t, { url: wsUrl, token: signToken({ sub: bob }) })
  await Promise.all([a.c.connect().ready(), b.c.connect().ready()])

  const presenceOf = (user: string) => (m: { data: { user_id: string } }) => m.data.user_id === user
  for (const [chosen, seen] of [
    ['dnd', 'dnd'],
    ['invisible', 'offline'],
    ['idle', 'idle'],
  ] as const) {
    const own = nextMessage(a.c, 'presence:update', presenceOf(alice))
    const others = nextMessage(b.c, 'presence:update', presenceOf(alice))
    a.c.setPresence(chosen)
    t.equal((await own).data.presence, chosen, `alice sees herself ${chosen}`)
    t.equal((await others).data.presence, seen, `bob sees alice ${seen}`)
    t.same(await b.c.getPresence([alice]), { [alice]: seen }, `GET /presence tells bob ${seen}`)
    t.same(await a.c.getPresence([alice]), { [alice]: chosen }, `GET /presence tells alice ${chosen}`)
  }
})

t.test('ping resolves with the round trip; refreshToken extends the connection, and a refused token rejects and changes nothing', async (t) => {
  // A fast sweep: expired tokens are found within 50 ms.
  const { wsUrl } = await build(t, { realtime: { typingTimeoutMs: 200 } })
  const user = objectId()
  const firstExpiry = Math.floor(Date.now() / 1000) + 2
  const { c, stateNames } = client(t, { url: wsUrl, token: signToken({ sub: user, exp: firstExpiry }) })
  await c.connect().ready()
  const rtt = await c.ping()
  t.ok(rtt >= 0 && rtt < WAIT_MS, `ping answered in ${rtt} ms`)

  await t.rejects(c.refreshToken(signToken({ sub: objectId() })), { name: 'RealtimeError', code: 'unauthorized' }, 'a token for another user is refused')
  await t.rejects(c.refreshToken('not-a-token'), { code: 'unauthorized' }, 'a malformed token is refused')
  await c.refreshToken(signToken({ sub: user, exp: firstExpiry + 3600 }))
  t.pass('a later token for the same user is accepted')

  await eventually(() => Date.now() > firstExpiry * 1000 + 300, WAIT_MS, 'the first token expiring')
  t.ok((await c.ping()) >= 0, 'still answering after the first token expired')
  t.same(stateNames(), ['connecting', 'open'], 'never dropped')
})

t.test('an application event reaches its typed listener; other types do not', async (t) => {
  const { app, wsUrl } = await build(t)
  const user = objectId()
  const { c } = client<{ 'message:new': { text: string } }>(t, { url: wsUrl, token: signToken({ sub: user }) })
  await c.connect().ready()
  const received = new Promise<string>((resolve) => c.on('message:new', (m) => resolve(m.data.text)))
  let other = 0
  c.on('message:deleted', () => other++)
  app.wsDispatcher.sendToUser(user, { type: 'message:new', data: { text: 'hello' } })
  t.equal(await received, 'hello')
  await c.ping() // everything sent before the pong has arrived
  t.equal(other, 0)
})

t.test('a dropped connection is reopened after a jittered backoff, and `connected` comes again', async (t) => {
  const { app, wsUrl } = await build(t)
  const user = objectId()
  const { c, states, messages } = client(t, { url: wsUrl, token: signToken({ sub: user }), reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } })
  await c.connect().ready()

  const reconnecting = nextState(c, stateIs('reconnecting'), 'to reconnecting')
  for (const connection of app.wsRegistry.senders(user)) connection.socket.terminate()
  const change = await reconnecting
  t.equal(change.reason?.code, 1006, 'the drop is reported: closed without a close frame')
  t.equal(change.attempt, 1)
  t.ok(change.delayMs! >= 50 && change.delayMs! <= 100, `first retry after 50..100 ms (${change.delayMs})`)
  await nextState(c, stateIs('open'), 'back to open')
  t.same(states.map((s) => s.state), ['connecting', 'open', 'reconnecting', 'open'])
  t.equal(messages.filter((m) => m.type === 'connected').length, 2, 'connected again')
  t.equal(app.wsRegistry.senders(user).size, 1, 'one connection, not two')
})

t.test('the server restarts: the client waits out the downtime with growing jittered delays and reconnects by itself', async (t) => {
  const port = await freePort()
  let app = await listenOn(port)
  t.teardown(() => app.close())
  const user = objectId()
  const initialDelayMs = 40
  const { c, states, messages } = client(t, {
    url: `ws://127.0.0.1:${port}/ws`,
    token: signToken({ sub: user }),
    reconnect: { initialDelayMs, maxDelayMs: 2000 },
  })
  await c.connect().ready()

  const going = nextState(c, stateIs('reconnecting'), 'to reconnecting')
  // Three failed attempts while the port is closed.
  const downtime = nextState(c, (s) => s.state === 'reconnecting' && s.attempt === 4, 'after three refused attempts')
  await app.close()
  t.equal((await going).reason?.code, 1001, 'the shutdown closed the connection as going away')
  await downtime
  app = await listenOn(port)
  await nextState(c, stateIs('open'), 'open on the new server')
  t.equal(messages.filter((m) => m.type === 'connected').length, 2, 'connected from the new server')
  t.equal(app.wsRegistry.senders(user).size, 1, 'the new server holds the connection')

  const retries = states.filter((s) => s.state === 'reconnecting')
  t.ok(retries.length >= 4)
  retries.forEach((retry, i) => {
    const cap = initialDelayMs * 2 ** i
    t.equal(retry.attempt, i + 1)
    t.ok(retry.delayMs! >= cap / 2 && retry.delayMs! <= cap, `attempt ${i + 1} waits ${retry.delayMs} ms, within [${cap / 2}, ${cap}]`)
  })
  t.ok(retries.slice(1).every((r) => r.reason?.code === 1006 && r.reason.status === undefined), 'the refused attempts are network failures')
  // The new server really serves this client.
  t.ok((await c.ping()) >= 0)
})

t.test('an upgrade refused with 401 is not retried; with getToken the client asks once for a new token', async (t) => {
  const { app, wsUrl } = await build(t)
  const user = objectId()
  const bad = signToken({ sub: user }, 'not-the-secret-0123456789-0123456789')

  const plain = client(t, { url: wsUrl, token: bad, reconnect: { initialDelayMs: 1, maxDelayMs: 1 } })
  const closed = await nextState(plain.c.connect(), stateIs('closed'), 'to closed')
  t.equal(closed.reason?.status, 401)
  t.same(plain.stateNames(), ['connecting', 'closed'], 'no reconnecting')
  // A retrying client would have tried again every millisecond or so by now.
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(internalsOf(app).realtimeMetrics.refusals.get('401'), 1, 'one upgrade request, refused once')
  await t.rejects(plain.c.ready(), 'ready() rejects once closed')

  let asked = 0
  const renewing = client(t, { url: wsUrl, token: bad, getToken: () => (asked++, signToken({ sub: user })) })
  await renewing.c.connect().ready()
  t.equal(asked, 1, 'asked once')
  t.same(renewing.stateNames(), ['connecting', 'reconnecting', 'open'])
  t.equal(renewing.states[1]!.reason?.status, 401)

  let askedAgain = 0
  const hopeless = client(t, { url: wsUrl, token: bad, getToken: () => (askedAgain++, bad) })
  const gaveUp = await nextState(hopeless.c.connect(), stateIs('closed'), 'to closed')
  t.equal(gaveUp.reason?.status, 401)
  t.equal(askedAgain, 1, 'a second refusal in a row is final')
})

t.test('an upgrade refused with 403 (Origin not allowed) is not retried', async (t) => {
  const { app, wsUrl } = await build(t, { app: { corsOrigins: ['https://chat.example'] } })
  let asked = 0
  const { c, stateNames } = client(t, {
    url: wsUrl,
    token: signToken({ sub: objectId() }),
    getToken: () => (asked++, 'unused'),
    reconnect: { initialDelayMs: 1, maxDelayMs: 1 },
  })
  const closed = await nextState(c.connect(), stateIs('closed'), 'to closed')
  t.equal(closed.reason?.status, 403)
  t.same(stateNames(), ['connecting', 'closed'])
  t.equal(asked, 0, 'no new token asked for: the token was not the problem')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(internalsOf(app).realtimeMetrics.refusals.get('403'), 1, 'one upgrade request')
})

t.test('close 4001 (token expired) asks getToken and reconnects with the new token; without getToken the client stops', async (t) => {
  const { wsUrl } = await build(t, { realtime: { typingTimeoutMs: 200 } })
  const user = objectId()
  const soon = () => signToken({ sub: user, exp: Math.floor(Date.now() / 1000) + 1 })

  const tokens: string[] = []
  const renewing = client(t, {
    url: wsUrl,
    token: soon(),
    // The fallback when no refresh came ahead of `exp` (test/client/token-refresh.test.ts tests the refresh).
    refreshAheadMs: false,
    getToken: () => {
      const token = signToken({ sub: user })
      tokens.push(token)
      return token
    },
  })
  await renewing.c.connect().ready()
  const reconnecting = await nextState(renewing.c, stateIs('reconnecting'), 'to reconnecting', WAIT_MS + 2000)
  t.equal(reconnecting.reason?.code, 4001)
  t.equal(reconnecting.delayMs, 0, 'at once: the new token is the fix, not waiting')
  await nextState(renewing.c, stateIs('open'), 'open again')
  t.equal(tokens.length, 1, 'getToken asked once')

  const plain = client(t, { url: wsUrl, token: soon() })
  await plain.c.connect().ready()
  const closed = await nextState(plain.c, stateIs('closed'), 'to closed', WAIT_MS + 2000)
  t.equal(closed.reason?.code, 4001)
  t.same(plain.stateNames(), ['connecting', 'open', 'closed'])
})

t.test('close 1008 (policy violation, after a long run of rate-limited messages) is not retried', async (t) => {
  const { wsUrl } = await build(t, { realtime: { rateLimitPerSec: 1, rateLimitBurst: 1 } })
  const { c, stateNames, messages } = client(t, { url: wsUrl, token: signToken({ sub: objectId() }), reconnect: { initialDelayMs: 1, maxDelayMs: 1 } })
  await c.connect().ready()
  const closed = nextState(c, stateIs('closed'), 'to closed')
  const pings = Array.from({ length: MAX_DROPS_IN_A_ROW + 2 }, () => c.ping().catch(() => 'dropped'))
  t.equal((await closed).reason?.code, 1008)
  t.same(stateNames(), ['connecting', 'open', 'closed'])
  t.ok(messages.some((m) => m.type === 'error' && m.data.code === 'rate_limited'), 'the client saw the rate_limited errors first')
  t.ok((await Promise.all(pings)).includes('dropped'), 'the pings the server dropped were rejected')
})

// Compile-time checks: `npm test` type-checks this file, so each line below is a test of the client's types.
export function typeChecks(c: RealtimeClient<{ 'message:new': { text: string } }>): void {
  c.on('presence:update', (m) => {
    const presence: Presence = m.data.presence
    const user: string = m.data.user_id
    void [presence, user]
  })
  c.on('error', (m) => {
    const code: 'invalid_json' | 'invalid_message' | 'unknown_type' | 'forbidden' | 'rate_limited' | 'unavailable' | 'unauthorized' = m.data.code
    void code
  })
  c.on('message:new', (m) => {
    const text: string = m.data.text
    void text
  })
  c.on('some:other', (m) => {
    const data: Record<string, unknown> = m.data
    void data
  })
  // @ts-expect-error a typing event has no presence
  c.on('typing:start', (m) => m.data.presence)
  // @ts-expect-error offline is not a state one can choose
  c.setPresence('offline')
  // @ts-expect-error an application event's data is as declared
  c.on('message:new', (m) => m.data.title)
}
