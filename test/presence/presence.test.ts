/**
 * Contract section 5: presence. What a user's connections and everyone else
 * see when the user connects, chooses a state and leaves; what is stored; and
 * GET /presence. Absence is proven with sync() round trips, never with sleeps.
 */
import t from 'tap'
import { build, eventually, objectId, signToken, type BuiltApp, type ServerMessage, type TestClient } from '../helper.js'
import { presenceOf } from '../fixtures/messages.js'
import { MemoryPresenceStore } from '../../lib/presence/presence-store-memory.js'
import { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { internalsOf } from '../../plugins/internals.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const isPresence = (m: ServerMessage) => m.type === 'presence:update'

/** The next presence:update a client receives. */
function nextPresence(client: TestClient): Promise<ServerMessage> {
  return client.next(isPresence)
}

/** Proves that no presence:update reached any of the clients so far. */
async function assertNoPresence(t: Test, clients: Record<string, TestClient>): Promise<void> {
  for (const [name, client] of Object.entries(clients)) {
    t.same((await client.sync()).filter(isPresence), [], `${name} received no presence:update`)
  }
}

async function setup(t: Test) {
  const built = await build(t)
  const store = internalsOf(built.app).realtimeStores.presence as MemoryPresenceStore
  /** GET /presence as `asker` (a user id), or with the given Authorization header. */
  async function getPresence(query: string, auth: { asker: string } | { authorization?: string }) {
    const headers: Record<string, string> = {}
    if ('asker' in auth) headers.authorization = `Bearer ${built.token(auth.asker)}`
    else if (auth.authorization !== undefined) headers.authorization = auth.authorization
    const response = await fetch(`${built.url}/presence${query}`, { headers })
    const text = await response.text()
    let body: any = text
    try {
      body = JSON.parse(text)
    } catch {}
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', body }
  }
  return { ...built, store, getPresence }
}

interface Arrival {
  bob: string
  /** Alice's connection. */
  a: TestClient
}

/**
 * Alice connects, then Bob on one connection (or two, in turn); Alice is told
 * that Bob came online. The test goes on from there.
 */
async function bobArrives(t: Test, connect: BuiltApp['connect']): Promise<Arrival & { b: TestClient }>
async function bobArrives(t: Test, connect: BuiltApp['connect'], connections: 2): Promise<Arrival & { b1: TestClient; b2: TestClient }>
async function bobArrives(t: Test, connect: BuiltApp['connect'], connections = 1): Promise<Arrival & Partial<Record<'b' | 'b1' | 'b2', TestClient>>> {
  const a = await connect(objectId())
  const bob = objectId()
  const b1 = await connect(bob)
  const b2 = connections === 2 ? await connect(bob) : undefined
  t.same(await nextPresence(a), presenceOf(bob, 'online'))
  return { bob, a, b: b1, b1, b2 }
}

t.test('the first connection comes online and every other connected user is told', async (t) => {
  const { connect, store } = await setup(t)
  const { a, b1, b2 } = await bobArrives(t, connect, 2)

  const carol = objectId()
  const c = await connect(carol)
  t.same(await nextPresence(a), presenceOf(carol, 'online'), 'every connected user is told')
  t.same(await nextPresence(b1), presenceOf(carol, 'online'), 'on every connection')
  t.same(await nextPresence(b2), presenceOf(carol, 'online'), 'on every connection')
  await assertNoPresence(t, { 'the user who connected': c })
  t.equal(store.record(carol)?.presence, 'online', 'the store holds online')
})

t.test('a second connection of a connected user broadcasts nothing', async (t) => {
  const { connect } = await setup(t)
  const { bob, a, b: b1 } = await bobArrives(t, connect)

  const b2 = await connect(bob)
  await assertNoPresence(t, { 'another user': a, 'the first connection': b1, 'the second connection': b2 })
})

t.test('dnd and invisible chosen last are restored on the first connection; idle comes back online', async (t) => {
  const { connect, store, getPresence } = await setup(t)
  const watcher = objectId()
  const w = await connect(watcher)

  const dnd = objectId()
  await store.write(dnd, { chosenPresence: 'dnd' })
  await connect(dnd)
  t.same(await nextPresence(w), presenceOf(dnd, 'dnd'), 'others see dnd')
  t.same((await getPresence(`?user_ids=${dnd}`, { asker: dnd })).body, { presences: { [dnd]: 'dnd' } })

  const idle = objectId()
  await store.write(idle, { chosenPresence: 'idle' })
  await connect(idle)
  t.same(await nextPresence(w), presenceOf(idle, 'online'), 'idle comes back online')
  t.same((await getPresence(`?user_ids=${idle}`, { asker: idle })).body, { presences: { [idle]: 'online' } })

  const online = objectId()
  await store.write(online, { chosenPresence: 'online' })
  await connect(online)
  t.same(await nextPresence(w), presenceOf(online, 'online'))

  const invisible = objectId()
  await store.write(invisible, { chosenPresence: 'invisible' })
  await connect(invisible)
  await assertNoPresence(t, { 'a connected user': w })
  t.same((await getPresence(`?user_ids=${invisible}`, { asker: invisible })).body, { presences: { [invisible]: 'invisible' } })
  t.same((await getPresence(`?user_ids=${invisible}`, { asker: watcher })).body, { presences: { [invisible]: 'offline' } })
})

t.test('presence:update: own connections always get the real state; others only a changed visible presence', async (t) => {
  const { connect, store } = await setup(t)
  const { bob, a, b1, b2 } = await bobArrives(t, connect, 2)

  /** bob chooses `chosen` on b1: both of bob's connections hear `chosen`; alice hears `others` or nothing. */
  async function choose(chosen: string, others: string | null) {
    b1.send({ type: 'presence:update', data: { presence: chosen } })
    t.same(await nextPresence(b1), presenceOf(bob, chosen), `${chosen}: the sending connection gets the real state`)
    t.same(await nextPresence(b2), presenceOf(bob, chosen), `${chosen}: the other connection gets the real state`)
    if (others === null) {
      await assertNoPresence(t, { [`others after ${chosen}`]: a })
    } else {
      t.same(await nextPresence(a), presenceOf(bob, others), `${chosen}: others see ${others}`)
      await assertNoPresence(t, { [`others after ${chosen}`]: a })
    }
    await assertNoPresence(t, { b1, b2 })
  }

  await choose('online', null) // unchanged
  await choose('idle', 'idle') // online → idle
  await choose('idle', null) // idle → idle
  await choose('dnd', 'dnd')
  await choose('invisible', 'offline') // others see offline, own tabs invisible
  await choose('invisible', null)
  await choose('online', 'online') // invisible → online
  await choose('invisible', 'offline')
  await choose('idle', 'idle') // invisible → idle
  t.equal(store.record(bob)?.chosenPresence, 'idle', 'the last choice is stored')
})

t.test('presence:update offline is refused and changes nothing', async (t) => {
  const { connect } = await setup(t)
  const { a, b } = await bobArrives(t, connect)

  b.send({ type: 'presence:update', data: { presence: 'offline' } })
  const error = await b.next('error')
  t.equal(error.data.code, 'invalid_message')
  await assertNoPresence(t, { 'the sender': b, 'another user': a })
})

t.test('the last connection closing takes the user offline for everyone and in the store', async (t) => {
  const { app, connect, store } = await setup(t)
  const { bob, a, b1, b2 } = await bobArrives(t, connect, 2)

  const before = Date.now()
  await b1.close()
  await eventually(() => app.wsRegistry.senders(bob).size === 1, undefined, 'b1 is gone from the registry')
  await assertNoPresence(t, { 'another user': a, 'the remaining connection': b2 })

  await b2.close()
  t.same(await nextPresence(a), presenceOf(bob, 'offline'))
  await eventually(() => store.record(bob)?.presence === 'offline', undefined, 'the store records bob offline')
  const record = store.record(bob)
  t.equal(record?.presence, 'offline')
  const lastActiveAt = record?.lastActiveAt
  t.ok(lastActiveAt instanceof Date, 'last_active_at is a Date')
  const at = lastActiveAt instanceof Date ? lastActiveAt.getTime() : NaN
  t.ok(at >= before && at <= Date.now(), 'last_active_at is the time of the close')
  await assertNoPresence(t, { 'another user': a })
})

t.test('closing one of two connections sends nothing', async (t) => {
  const { app, connect, store } = await setup(t)
  const { bob, a, b1, b2 } = await bobArrives(t, connect, 2)

  await b1.close()
  await eventually(() => app.wsRegistry.senders(bob).size === 1, undefined, 'b1 is gone from the registry')
  await assertNoPresence(t, { 'another user': a, 'the remaining connection': b2 })
  t.equal(store.record(bob)?.presence, 'online', 'the store still holds online')
})

t.test('an invisible user leaving is not announced, but is stored offline', async (t) => {
  const { connect, store } = await setup(t)
  const { bob, a, b } = await bobArrives(t, connect)
  b.send({ type: 'presence:update', data: { presence: 'invisible' } })
  t.same(await nextPresence(b), presenceOf(bob, 'invisible'))
  t.same(await nextPresence(a), presenceOf(bob, 'offline'))

  await b.close()
  await eventually(() => store.record(bob)?.presence === 'offline' && store.record(bob)?.lastActiveAt instanceof Date, undefined, 'bob stored offline')
  await assertNoPresence(t, { 'another user': a })

  // Announcements still flow: the next user to leave is announced.
  const carol = objectId()
  const c = await connect(carol)
  t.same(await nextPresence(a), presenceOf(carol, 'online'))
  await c.close()
  t.same(await nextPresence(a), presenceOf(carol, 'offline'))
})

t.test('an abrupt drop of the last connection counts as a close', async (t) => {
  const { connect, store } = await setup(t)
  const { bob, a, b } = await bobArrives(t, connect)

  await b.kill()
  t.same(await nextPresence(a), presenceOf(bob, 'offline'))
  await eventually(() => store.record(bob)?.presence === 'offline' && store.record(bob)?.lastActiveAt instanceof Date, undefined, 'bob stored offline')
})

t.test('a user who chose dnd comes back dnd after reconnecting', async (t) => {
  const { connect, getPresence } = await setup(t)
  const { bob, a, b } = await bobArrives(t, connect)
  b.send({ type: 'presence:update', data: { presence: 'dnd' } })
  t.same(await nextPresence(a), presenceOf(bob, 'dnd'))
  await b.close()
  t.same(await nextPresence(a), presenceOf(bob, 'offline'))

  await connect(bob)
  t.same(await nextPresence(a), presenceOf(bob, 'dnd'), 'others see dnd again')
  t.same((await getPresence(`?user_ids=${bob}`, { asker: bob })).body, { presences: { [bob]: 'dnd' } })
})

t.test('a user who chose invisible comes back invisible after reconnecting', async (t) => {
  const { connect, getPresence } = await setup(t)
  const { bob, a, b } = await bobArrives(t, connect)
  b.send({ type: 'presence:update', data: { presence: 'invisible' } })
  t.same(await nextPresence(a), presenceOf(bob, 'offline'))
  await b.close()
  await eventually(async () => (await getPresence(`?user_ids=${bob}`, { asker: bob })).body.presences?.[bob] === 'offline')

  await connect(bob)
  await assertNoPresence(t, { 'another user': a })
  t.same((await getPresence(`?user_ids=${bob}`, { asker: bob })).body, { presences: { [bob]: 'invisible' } })
})

t.test('the presence is settled before connected: a dnd user asking right away sees dnd', async (t) => {
  const { connect, store, getPresence } = await setup(t)
  const bob = objectId()
  await store.write(bob, { chosenPresence: 'dnd' })
  await connect(bob)
  const answer = await getPresence(`?user_ids=${bob}`, { asker: bob })
  t.equal(answer.status, 200)
  t.same(answer.body, { presences: { [bob]: 'dnd' } })
})

t.test('the presence is settled before connected, even when the store is slow to answer', async (t) => {
  // A database that takes its time: `connected` must still wait for the chosen presence.
  class SlowPresenceStore extends MemoryPresenceStore {
    override async chosenPresence(userId: string) {
      await new Promise((resolve) => setTimeout(resolve, 150))
      return super.chosenPresence(userId)
    }
  }
  const store = new SlowPresenceStore()
  const { connect, url, token } = await build(t, { stores: { membership: new MemoryMembershipStore(), presence: store } })
  const bob = objectId()
  await store.write(bob, { chosenPresence: 'dnd' })
  await connect(bob)
  const response = await fetch(`${url}/presence?user_ids=${bob}`, { headers: { authorization: `Bearer ${token(bob)}` } })
  t.equal(response.status, 200)
  t.same(await response.json(), { presences: { [bob]: 'dnd' } })
})

t.test('GET /presence answers visible presence for others, the real state for the asker, offline for unknown ids', async (t) => {
  const { connect, getPresence } = await setup(t)
  const [asker, online, idle, dnd, invisible, unknown] = [objectId(), objectId(), objectId(), objectId(), objectId(), objectId()]
  const clients = new Map<string, TestClient>()
  for (const user of [asker, online, idle, dnd, invisible]) clients.set(user, await connect(user))
  for (const [user, state] of [
    [idle, 'idle'],
    [dnd, 'dnd'],
    [invisible, 'invisible'],
  ] as const) {
    const client = clients.get(user)!
    client.send({ type: 'presence:update', data: { presence: state } })
    await client.next(isPresence)
  }

  const ids = [asker, online, idle, dnd, invisible, unknown]
  const answer = await getPresence(`?user_ids=${ids.join(',')}`, { asker })
  t.equal(answer.status, 200)
  t.match(answer.contentType, /^application\/json/)
  t.same(answer.body, {
    presences: {
      [asker]: 'online',
      [online]: 'online',
      [idle]: 'idle',
      [dnd]: 'dnd',
      [invisible]: 'offline',
      [unknown]: 'offline',
    },
  })

  // The invisible user asking about themself sees the real state.
  t.same((await getPresence(`?user_ids=${invisible},${dnd}`, { asker: invisible })).body, {
    presences: { [invisible]: 'invisible', [dnd]: 'dnd' },
  })

  // Someone not connected at all may ask too; a user who left is offline.
  await clients.get(online)!.close()
  await eventually(async () => (await getPresence(`?user_ids=${online}`, { asker: unknown })).body.presences?.[online] === 'offline')
  t.same((await getPresence(`?user_ids=${online},${idle}`, { asker: unknown })).body, {
    presences: { [online]: 'offline', [idle]: 'idle' },
  })
})

t.test('GET /presence takes up to 200 ids', async (t) => {
  const { getPresence } = await setup(t)
  const ids = Array.from({ length: 200 }, () => objectId())
  const answer = await getPresence(`?user_ids=${ids.join(',')}`, { asker: objectId() })
  t.equal(answer.status, 200)
  t.equal(Object.keys(answer.body.presences).length, 200)
  t.ok(Object.values(answer.body.presences).every((p) => p === 'offline'))
})

t.test('GET /presence without a valid access token is 401 JSON, whatever the query', async (t) => {
  const { getPresence } = await setup(t)
  const user = objectId()
  const now = Math.floor(Date.now() / 1000)
  const cases: Array<[string, string | undefined]> = [
    ['no Authorization header', undefined],
    ['a non-Bearer scheme', `Basic ${Buffer.from('a:b').toString('base64')}`],
    ['garbage', 'Bearer not-a-jwt'],
    ['a bad signature', `Bearer ${signToken({ sub: user }, 'another-secret-that-is-long-enough-000000')}`],
    ['an expired token', `Bearer ${signToken({ sub: user, iat: now - 7200, exp: now - 3600 })}`],
    ['a refresh token', `Bearer ${signToken({ sub: user, token_type: 'refresh' })}`],
    ['a wrong issuer', `Bearer ${signToken({ sub: user, iss: 'someone-else' })}`],
  ]
  for (const query of [`?user_ids=${user}`, '?user_ids=not-an-id', '', `?user_ids=${Array(201).fill(user).join(',')}`]) {
    for (const [what, authorization] of cases) {
      const answer = await getPresence(query, { authorization })
      t.equal(answer.status, 401, `${what}, query ${JSON.stringify(query.slice(0, 40))}: 401`)
      t.match(answer.contentType, /^application\/json/)
      t.equal(answer.body.error, 'unauthorized')
      t.type(answer.body.message, 'string')
    }
  }
})

t.test('GET /presence with a bad query is 400 JSON', async (t) => {
  const { getPresence } = await setup(t)
  const asker = objectId()
  const cases: Array<[string, string]> = [
    ['a bad id', `?user_ids=${objectId()},not-an-object-id`],
    ['an id too short', `?user_ids=${objectId().slice(1)}`],
    ['an empty id', `?user_ids=${objectId()},,${objectId()}`],
    ['more than 200 ids', `?user_ids=${Array.from({ length: 201 }, () => objectId()).join(',')}`],
    ['no user_ids', ''],
    ['an empty user_ids', '?user_ids='],
  ]
  for (const [what, query] of cases) {
    const answer = await getPresence(query, { asker })
    t.equal(answer.status, 400, `${what}: 400`)
    t.match(answer.contentType, /^application\/json/)
    t.equal(answer.body.error, 'bad_request', `${what}: bad_request`)
    t.type(answer.body.message, 'string')
  }
})
