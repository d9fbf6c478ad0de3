/**
 * The client's state helpers (issue 12), against the running service:
 * PresenceMap keeps who is in which state from presence:update and
 * GET /presence, and catches up after a reconnect; TypingSet keeps who is
 * typing per channel, ends an entry whose stop never came after its
 * timeout, and empties when the connection drops.
 */
import t from 'tap'
import { PresenceMap, TypingSet, type PresenceChange, type TypingChange } from '../../client/index.js'
import type { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { WAIT_MS, build, eventually, objectId, signToken } from '../helper.js'
import { nextChange, nextMessage, nextState, recordedClient, stateIs } from './tools.js'
import { internalsOf } from '../../plugins/internals.js'

t.test('PresenceMap: others’ visible presence as it changes, one’s own real one, GET /presence for the rest', async (t) => {
  const { wsUrl } = await build(t)
  const [alice, bob, carol] = [objectId(), objectId(), objectId()]
  const b = recordedClient(t, { url: wsUrl, token: signToken({ sub: bob }) })
  const map = new PresenceMap(b.c)
  const changes: PresenceChange[] = []
  map.onChange((change) => changes.push(change))
  const own = nextChange<PresenceChange>((l) => map.onChange(l), (c) => c.userId === bob, 'bob’s own presence')
  await b.c.connect().ready()
  t.equal((await own).presence, 'online', 'bob’s own presence, from the presence:update after connected')

  const a = recordedClient(t, { url: wsUrl, token: signToken({ sub: alice }) })
  const seen = (presence: string) => nextChange<PresenceChange>((l) => map.onChange(l), (c) => c.userId === alice && c.presence === presence, `alice ${presence}`)
  const online = seen('online')
  await a.c.connect().ready()
  t.same(await online, { userId: alice, presence: 'online', previous: undefined }, 'alice connecting: first heard of')
  const dnd = seen('dnd')
  a.c.setPresence('dnd')
  t.same(await dnd, { userId: alice, presence: 'dnd', previous: 'online' })
  const hidden = seen('offline')
  a.c.setPresence('invisible')
  t.same(await hidden, { userId: alice, presence: 'offline', previous: 'dnd' }, 'invisible is offline to others')

  await map.load([carol, alice])
  t.equal(map.get(carol), 'offline', 'a user never connected: offline, from GET /presence')
  t.same(map.snapshot(), { [bob]: 'online', [alice]: 'offline', [carol]: 'offline' })
  t.equal(changes.filter((c) => c.userId === alice).length, 3, 'a repeated state is not a change')

  const gone = seen('offline')
  a.c.setPresence('idle')
  await seen('idle')
  a.c.close()
  t.same(await gone, { userId: alice, presence: 'offline', previous: 'idle' }, 'alice’s last connection closed')
})

t.test('PresenceMap catches up after a reconnect: a change made while the client was away is fetched', async (t) => {
  const { app, wsUrl } = await build(t)
  const [alice, bob] = [objectId(), objectId()]
  // Bob reconnects only when told to, so that alice's change surely falls inside his drop.
  const b = recordedClient(t, { url: wsUrl, token: signToken({ sub: bob }), reconnect: { initialDelayMs: 60_000 } })
  const map = new PresenceMap(b.c)
  const a = recordedClient(t, { url: wsUrl, token: signToken({ sub: alice }) })
  await Promise.all([b.c.connect().ready(), a.c.connect().ready()])
  await eventually(() => map.get(alice) === 'online', WAIT_MS, 'bob seeing alice online')

  const away = nextState(b.c, stateIs('reconnecting'), 'bob dropped')
  for (const connection of app.wsRegistry.senders(bob)) connection.socket.terminate()
  await away
  const own = nextMessage(a.c, 'presence:update', (m) => m.data.user_id === alice)
  a.c.setPresence('dnd')
  await own // the server has taken alice's change; bob, disconnected, was not told
  t.equal(map.get(alice), 'online', 'bob missed it')

  const caughtUp = nextChange<PresenceChange>((l) => map.onChange(l), (c) => c.userId === alice && c.presence === 'dnd', 'alice dnd after the reconnect')
  b.c.reconnect()
  await caughtUp
  t.equal(map.get(alice), 'dnd', 'fetched with GET /presence after `connected`')
  map.dispose()
})

t.test('TypingSet: others typing per channel; a lost stop times out; a drop empties it', async (t) => {
  // The server would end an unrenewed typing only after a minute: the set's own 400 ms timeout is what ends it here.
  const { app, wsUrl, connect } = await build(t, { realtime: { typingTimeoutMs: 60_000, membershipCacheMs: 0 } })
  const membership = internalsOf(app).realtimeStores.membership as MemoryMembershipStore
  const [alice, bob, carol] = [objectId(), objectId(), objectId()]
  const [general, random] = [objectId(), objectId()]
  for (const user of [alice, bob, carol]) membership.addMember(general, user)
  membership.addMember(random, alice)
  membership.addMember(random, bob)
  const b = recordedClient(t, { url: wsUrl, token: signToken({ sub: bob }), reconnect: { initialDelayMs: 60_000 } })
  const typing = new TypingSet(b.c, { timeoutMs: 400 })
  const changes: TypingChange[] = []
  typing.onChange((change) => changes.push(change))
  const a = recordedClient(t, { url: wsUrl, token: signToken({ sub: alice }) })
  await Promise.all([b.c.connect().ready(), a.c.connect().ready()])
  const change = (channelId: string, userIds: string[], what: string) =>
    nextChange<TypingChange>((l) => typing.onChange(l), (c) => c.channelId === channelId && c.userIds.join() === userIds.join(), what)

  const aliceTypes = change(general, [alice], 'alice typing in general')
  a.c.startTyping(general)
  await aliceTypes
  t.ok(typing.isTyping(general, alice))
  t.same(typing.typing(random), [], 'only in that channel')
  const aliceStops = change(general, [], 'alice stopped')
  a.c.stopTyping(general)
  await aliceStops

  // Carol's client sends typing:start and the server never a stop (as a stop lost between instances in a Redis outage leaves it).
  const carolClient = await connect(carol)
  const carolTypes = change(general, [carol], 'carol typing')
  carolClient.send({ type: 'typing:start', data: { channel_id: general } })
  await carolTypes
  const startedAt = Date.now()
  await change(general, [], 'carol’s entry timing out')
  t.ok(Date.now() - startedAt >= 300, 'ended by the set’s timeout, not at once')
  t.notOk(b.messages.some((m) => m.type === 'typing:stop' && m.data.user_id === carol), 'the server sent no stop: the timeout ended it')

  const inRandom = change(random, [alice], 'alice typing in random')
  a.c.startTyping(random)
  await inRandom
  const emptied = change(random, [], 'the set emptied by the drop')
  for (const connection of app.wsRegistry.senders(bob)) connection.socket.terminate()
  await emptied
  t.same(typing.typing(random), [])
  t.ok(changes.length >= 6, 'every change was told')
  typing.dispose()
})
