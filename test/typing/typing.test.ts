/**
 * Contract section 4: typing. Who hears a typing:start or typing:stop, who is
 * refused, when the server ends typing itself, and how long membership may be
 * cached. Absence is proven with sync() round trips, never with sleeps.
 */
import t from 'tap'
import { build, eventually, objectId, type BuildOptions, type ServerMessage, type TestClient } from '../helper.js'
import type { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { internalsOf } from '../../plugins/internals.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const isTyping = (m: ServerMessage) => m.type === 'typing:start' || m.type === 'typing:stop'

/** The typing events among messages (presence and the like are not this file's business). */
function typingIn(messages: ServerMessage[]): ServerMessage[] {
  return messages.filter(isTyping)
}

/** Proves that nothing typing-related reached any of the clients so far. */
async function assertNoTyping(t: Test, clients: Record<string, TestClient>): Promise<void> {
  for (const [name, client] of Object.entries(clients)) {
    t.same(typingIn(await client.sync()), [], `${name} received no typing event`)
  }
}

function startMsg(channelId: string) {
  return { type: 'typing:start', data: { channel_id: channelId } }
}

function stopMsg(channelId: string) {
  return { type: 'typing:stop', data: { channel_id: channelId } }
}

function event(type: 'typing:start' | 'typing:stop', channelId: string, userId: string) {
  return { type, data: { channel_id: channelId, user_id: userId } }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** An app on the memory store; `channelOf(...users)` makes a new channel with those members. */
async function setup(t: Test, realtime: BuildOptions['realtime'] = {}) {
  const built = await build(t, { realtime: { membershipCacheMs: 0, ...realtime } })
  const membership = internalsOf(built.app).realtimeStores.membership as MemoryMembershipStore
  function channelOf(...members: string[]): string {
    const channel = objectId()
    for (const user of members) membership.addMember(channel, user)
    return channel
  }
  return { ...built, membership, channelOf }
}

/**
 * The membership cache filled, then a removal behind its back: alice, bob and
 * carol, members of one channel, each connected; alice's typing:start (heard
 * by bob and carol) makes the server read the membership; then bob is removed
 * from the store.
 */
async function bobRemovedAfterCaching(t: Test, membershipCacheMs: number) {
  const { app, connect, membership, channelOf } = await setup(t, { membershipCacheMs })
  const [alice, bob, carol] = [objectId(), objectId(), objectId()]
  const channel = channelOf(alice, bob, carol)
  const a = await connect(alice)
  const b = await connect(bob)
  const c = await connect(carol)

  // Fills the cache.
  a.send(startMsg(channel))
  t.same(await b.next(isTyping), event('typing:start', channel, alice))
  t.same(await c.next(isTyping), event('typing:start', channel, alice))
  membership.removeMember(channel, bob)
  return { app, channel, alice, bob, a, b, c }
}

t.test('typing:start and typing:stop reach every connection of every other member, with exactly {channel_id, user_id}', async (t) => {
  const { connect, channelOf } = await setup(t)
  const [alice, bob, carol] = [objectId(), objectId(), objectId()]
  const channel = channelOf(alice, bob, carol)
  const a = await connect(alice)
  const b1 = await connect(bob)
  const b2 = await connect(bob)
  const c = await connect(carol)

  a.send(startMsg(channel))
  for (const client of [b1, b2, c]) t.same(await client.next(isTyping), event('typing:start', channel, alice))

  a.send(stopMsg(channel))
  for (const client of [b1, b2, c]) t.same(await client.next(isTyping), event('typing:stop', channel, alice))

  // A stop ends the typing: the next start is announced again.
  a.send(startMsg(channel))
  for (const client of [b1, b2, c]) t.same(await client.next(isTyping), event('typing:start', channel, alice))
})

t.test('none of the sender’s own connections receive its typing events', async (t) => {
  const { connect, channelOf } = await setup(t)
  const [alice, bob] = [objectId(), objectId()]
  const channel = channelOf(alice, bob)
  const a1 = await connect(alice)
  const a2 = await connect(alice)
  const b = await connect(bob)

  a1.send(startMsg(channel))
  t.same(await b.next(isTyping), event('typing:start', channel, alice))
  await assertNoTyping(t, { 'the sender': a1, 'the sender’s second connection': a2 })

  a1.send(stopMsg(channel))
  t.same(await b.next(isTyping), event('typing:stop', channel, alice))
  await assertNoTyping(t, { 'the sender': a1, 'the sender’s second connection': a2 })
})

t.test('a connected user who is not a member of the channel receives nothing', async (t) => {
  const { connect, channelOf } = await setup(t)
  const [alice, bob, outsider] = [objectId(), objectId(), objectId()]
  const channel = channelOf(alice, bob)
  // The outsider shares another channel with alice: still not this one.
  channelOf(alice, outsider)
  const a = await connect(alice)
  const b = await connect(bob)
  const o = await connect(outsider)

  a.send(startMsg(channel))
  t.same(await b.next(isTyping), event('typing:start', channel, alice))
  await assertNoTyping(t, { outsider: o })

  a.send(stopMsg(channel))
  t.same(await b.next(isTyping), event('typing:stop', channel, alice))
  await assertNoTyping(t, { outsider: o })
})

t.test('a non-member sending typing:start or typing:stop gets forbidden and nothing is sent', async (t) => {
  const { connect, channelOf } = await setup(t)
  const [alice, bob, outsider] = [objectId(), objectId(), objectId()]
  const channel = channelOf(alice, bob)
  const a = await connect(alice)
  const b = await connect(bob)
  const o = await connect(outsider)

  for (const [type, message] of [
    ['typing:start', startMsg(channel)],
    ['typing:stop', stopMsg(channel)],
  ] as const) {
    o.send(message)
    const error = await o.next('error')
    t.equal(error.data.code, 'forbidden', `${type} from a non-member is forbidden`)
    t.equal(error.data.request_type, type)
    t.type(error.data.message, 'string')
    await assertNoTyping(t, { 'a member': a, 'another member': b, 'the outsider': o })
  }

  // The connection stays open and usable.
  o.send({ type: 'ping' })
  t.same(await o.next('pong'), { type: 'pong', data: {} })
})

t.test('typing state belongs to the user and channel, whichever connection sends', async (t) => {
  const { app, connect, channelOf } = await setup(t)
  const [alice, bob] = [objectId(), objectId()]
  const channel = channelOf(alice, bob)
  const a1 = await connect(alice)
  const a2 = await connect(alice)
  const b = await connect(bob)

  a1.send(startMsg(channel))
  t.same(await b.next(isTyping), event('typing:start', channel, alice))

  // A start from the other connection of the same user is a renewal, not news.
  a2.send(startMsg(channel))
  await a2.sync()
  await assertNoTyping(t, { 'the other member': b })

  // A stop from the other connection ends the typing a1 started.
  a2.send(stopMsg(channel))
  t.same(await b.next(isTyping), event('typing:stop', channel, alice))

  // It is over: a1 closing afterwards sends no second stop.
  await a1.close()
  await eventually(() => app.wsRegistry.senders(alice).size === 1, undefined, 'a1 is gone from the registry')
  await assertNoTyping(t, { 'the other member': b })
})

t.test('a repeated typing:start is not sent again', async (t) => {
  const { connect, channelOf } = await setup(t)
  const [alice, bob] = [objectId(), objectId()]
  const channel = channelOf(alice, bob)
  const a = await connect(alice)
  const b1 = await connect(bob)
  const b2 = await connect(bob)

  a.send(startMsg(channel))
  t.same(await b1.next(isTyping), event('typing:start', channel, alice))
  t.same(await b2.next(isTyping), event('typing:start', channel, alice))

  a.send(startMsg(channel))
  a.send(startMsg(channel))
  await a.sync()
  await assertNoTyping(t, { 'the member': b1, 'the member’s second connection': b2 })

  // Still typing: the stop that follows is the next typing event.
  a.send(stopMsg(channel))
  t.same(await b1.next(isTyping), event('typing:stop', channel, alice))
  t.same(await b2.next(isTyping), event('typing:stop', channel, alice))
})

t.test('typing:stop for a channel the user is not typing in sends nothing', async (t) => {
  const { connect, channelOf } = await setup(t)
  const [alice, bob] = [objectId(), objectId()]
  const channel = channelOf(alice, bob)
  const a = await connect(alice)
  const b = await connect(bob)

  // Never started.
  a.send(stopMsg(channel))
  t.same((await a.sync()).filter((m) => m.type === 'error'), [], 'a member’s stop is not an error')
  await assertNoTyping(t, { 'the other member': b })

  // Started, stopped, stopped again: only one stop is sent.
  a.send(startMsg(channel))
  t.same(await b.next(isTyping), event('typing:start', channel, alice))
  a.send(stopMsg(channel))
  t.same(await b.next(isTyping), event('typing:stop', channel, alice))
  a.send(stopMsg(channel))
  await a.sync()
  await assertNoTyping(t, { 'the other member': b })
})

t.test('a typing:start neither renewed nor stopped ends after TYPING_TIMEOUT_MS with a typing:stop from the server', async (t) => {
  const timeoutMs = 200
  const { connect, channelOf } = await setup(t, { typingTimeoutMs: timeoutMs })
  const [alice, bob] = [objectId(), objectId()]
  const channel = channelOf(alice, bob)
  const a = await connect(alice)
  const b1 = await connect(bob)
  const b2 = await connect(bob)

  const sentAt = Date.now()
  a.send(startMsg(channel))
  t.same(await b1.next(isTyping), event('typing:start', channel, alice))
  t.same(await b1.next(isTyping, 3000), event('typing:stop', channel, alice))
  const elapsed = Date.now() - sentAt
  t.ok(elapsed >= timeoutMs - 5, `the stop came after the timeout, not before (${elapsed} ms)`)
  t.same(typingIn(await b2.sync()), [event('typing:start', channel, alice), event('typing:stop', channel, alice)])
  await assertNoTyping(t, { 'the typist': a })

  // Ended: a new start is announced again.
  a.send(startMsg(channel))
  t.same(await b1.next(isTyping), event('typing:start', channel, alice))
})

t.test('renewing typing:start keeps it alive past the timeout; it ends once renewals cease', async (t) => {
  const timeoutMs = 400
  const { connect, channelOf } = await setup(t, { typingTimeoutMs: timeoutMs })
  const [alice, bob] = [objectId(), objectId()]
  const channel = channelOf(alice, bob)
  const a = await connect(alice)
  const b = await connect(bob)

  const startedAt = Date.now()
  a.send(startMsg(channel))
  t.same(await b.next(isTyping), event('typing:start', channel, alice))

  // Pacing only: renew every quarter of the timeout, for twice the timeout.
  let renewedAt = Date.now()
  while (Date.now() - startedAt < 2 * timeoutMs) {
    await pause(timeoutMs / 4)
    a.send(startMsg(channel))
    await a.sync()
    renewedAt = Date.now()
  }
  t.ok(Date.now() - startedAt >= 2 * timeoutMs, 'typing lasted past the timeout')
  await assertNoTyping(t, { 'the other member': b })

  t.same(await b.next(isTyping, 3000), event('typing:stop', channel, alice))
  const sinceRenewal = Date.now() - renewedAt
  t.ok(sinceRenewal >= timeoutMs - 5, `the stop came a timeout after the last renewal (${sinceRenewal} ms)`)
})

t.test('closing the connection that started typing sends typing:stop for each channel it typed in', async (t) => {
  const { connect, channelOf } = await setup(t)
  const [alice, bob] = [objectId(), objectId()]
  const [one, two] = [channelOf(alice, bob), channelOf(alice, bob)]
  const a1 = await connect(alice)
  // Alice stays connected elsewhere: it is the connection's close that ends its typing.
  const a2 = await connect(alice)
  const b1 = await connect(bob)
  const b2 = await connect(bob)

  a1.send(startMsg(one))
  a1.send(startMsg(two))
  for (const client of [b1, b2]) {
    t.same(await client.next(isTyping), event('typing:start', one, alice))
    t.same(await client.next(isTyping), event('typing:start', two, alice))
  }

  await a1.close()
  for (const client of [b1, b2]) {
    const stops = [await client.next(isTyping), await client.next(isTyping)]
    t.same(
      stops.sort((x, y) => x.data.channel_id.localeCompare(y.data.channel_id)),
      [event('typing:stop', one, alice), event('typing:stop', two, alice)].sort((x, y) =>
        x.data.channel_id.localeCompare(y.data.channel_id),
      ),
      'one stop per channel',
    )
  }
  await assertNoTyping(t, { 'the member': b1, 'the member’s second connection': b2, 'the typist’s other connection': a2 })
})

t.test('an abrupt TCP drop of the connection that started typing sends typing:stop for each channel', async (t) => {
  const { connect, channelOf } = await setup(t)
  const [alice, bob] = [objectId(), objectId()]
  const [one, two] = [channelOf(alice, bob), channelOf(alice, bob)]
  const a = await connect(alice)
  const b = await connect(bob)

  a.send(startMsg(one))
  a.send(startMsg(two))
  t.same(await b.next(isTyping), event('typing:start', one, alice))
  t.same(await b.next(isTyping), event('typing:start', two, alice))

  await a.kill()
  const stops = [await b.next(isTyping), await b.next(isTyping)]
  t.same(
    new Set(stops.map((m) => JSON.stringify(m))),
    new Set([event('typing:stop', one, alice), event('typing:stop', two, alice)].map((m) => JSON.stringify(m))),
    'one stop per channel',
  )
  await assertNoTyping(t, { 'the member': b })
})

t.test('cached membership: a removed member keeps getting events until the channel is dropped from the cache', async (t) => {
  const { app, channel, alice, bob, a, b, c } = await bobRemovedAfterCaching(t, 60_000)

  // Within the cache's life the removal is not seen yet.
  a.send(stopMsg(channel))
  t.same(await b.next(isTyping), event('typing:stop', channel, alice), 'still a member by the cache')
  t.same(await c.next(isTyping), event('typing:stop', channel, alice))
  b.send(startMsg(channel))
  t.same(await a.next(isTyping), event('typing:start', channel, bob), 'the removed member may still type')
  t.same(await c.next(isTyping), event('typing:start', channel, bob))
  b.send(stopMsg(channel))
  t.same(await a.next(isTyping), event('typing:stop', channel, bob))
  t.same(await c.next(isTyping), event('typing:stop', channel, bob))

  app.wsDispatcher.dropChannel(channel)

  // Dropped: the next event reads the store, where bob is no member.
  a.send(startMsg(channel))
  t.same(await c.next(isTyping), event('typing:start', channel, alice))
  await assertNoTyping(t, { 'the removed member': b })

  for (const [type, message] of [
    ['typing:start', startMsg(channel)],
    ['typing:stop', stopMsg(channel)],
  ] as const) {
    b.send(message)
    const error = await b.next('error')
    t.equal(error.data.code, 'forbidden', `${type} from the removed member is forbidden`)
    t.equal(error.data.request_type, type)
  }
  await assertNoTyping(t, { 'a member': a, 'another member': c })
})

t.test('with MEMBERSHIP_CACHE_MS at 0 a removal is seen at once, and a new member can type', async (t) => {
  const { connect, membership, channelOf } = await setup(t, { membershipCacheMs: 0 })
  const [alice, bob, carol] = [objectId(), objectId(), objectId()]
  const channel = channelOf(alice, bob)
  const a = await connect(alice)
  const b = await connect(bob)
  const c = await connect(carol)

  a.send(startMsg(channel))
  t.same(await b.next(isTyping), event('typing:start', channel, alice))

  membership.removeMember(channel, bob)
  membership.addMember(channel, carol)

  a.send(stopMsg(channel))
  t.same(await c.next(isTyping), event('typing:stop', channel, alice), 'the new member hears it')
  await assertNoTyping(t, { 'the removed member': b })

  b.send(startMsg(channel))
  t.equal((await b.next('error')).data.code, 'forbidden')
  c.send(startMsg(channel))
  t.same(await a.next(isTyping), event('typing:start', channel, carol))
  await assertNoTyping(t, { 'the removed member': b })
})

t.test('membership is cached for at most MEMBERSHIP_CACHE_MS', async (t) => {
  const cacheMs = 200
  const { channel, alice, a, b, c } = await bobRemovedAfterCaching(t, cacheMs)

  // Past the cache's life (pacing, not hoping: the contract bounds it), the removal must show.
  await pause(cacheMs + 50)
  a.send(stopMsg(channel))
  t.same(await c.next(isTyping), event('typing:stop', channel, alice))
  await assertNoTyping(t, { 'the removed member': b })
  b.send(startMsg(channel))
  t.equal((await b.next('error')).data.code, 'forbidden')
  await assertNoTyping(t, { 'a member': a, 'another member': c })
})
