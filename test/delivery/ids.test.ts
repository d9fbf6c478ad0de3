/**
 * Ids are normalized once, where they enter the library: a host that spells
 * an ObjectId in upper case (as some drivers print it) reaches the same
 * connections through every entry, and exclusions leave out the same users.
 */
import t, { type Test } from 'tap'
import { build, objectId, type BuiltApp, type TestClient } from '../helper.js'
import { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { MemoryPresenceStore } from '../../lib/presence/presence-store-memory.js'

const KEY = 'ids-test-key-0123456789abcdef0123'

interface Setup extends BuiltApp {
  ada: string
  grace: string
  channel: string
  adaClient: TestClient
  graceClient: TestClient
}

async function setup(t: Test): Promise<Setup> {
  const membership = new MemoryMembershipStore()
  const [ada, grace, channel] = [objectId(), objectId(), objectId()]
  membership.addMember(channel, ada)
  membership.addMember(channel, grace)
  const built = await build(t, {
    realtime: { apiKey: KEY, rateLimitPerSec: 1000, rateLimitBurst: 1000 },
    stores: { membership, presence: new MemoryPresenceStore() },
  })
  const adaClient = await built.connect(ada)
  const graceClient = await built.connect(grace)
  await adaClient.sync()
  await graceClient.sync()
  return { ...built, ada, grace, channel, adaClient, graceClient }
}

/** What each client received since the last call, as types (a round trip proves nothing else is on its way). */
async function receivedTypes(client: TestClient): Promise<string[]> {
  return (await client.sync()).map((message) => message.type)
}

const upper = (id: string) => id.toUpperCase()

t.test('sendToUser, broadcast and sendToChannel reach users named in upper case', async (t) => {
  const s = await setup(t)
  s.app.wsDispatcher.sendToUser(upper(s.ada), { type: 'note:to-user', data: {} })
  t.strictSame(await receivedTypes(s.adaClient), ['note:to-user'], 'sendToUser with an upper-case id reaches the user')

  s.app.wsDispatcher.broadcast([upper(s.ada), upper(s.grace)], { type: 'note:broadcast', data: {} })
  t.strictSame(await receivedTypes(s.adaClient), ['note:broadcast'], 'broadcast reaches the first user')
  t.strictSame(await receivedTypes(s.graceClient), ['note:broadcast'], 'and the second')

  await s.app.wsDispatcher.sendToChannel(upper(s.channel), { type: 'note:channel', data: {} })
  t.strictSame(await receivedTypes(s.adaClient), ['note:channel'], 'sendToChannel with an upper-case channel id reaches its members')
  t.strictSame(await receivedTypes(s.graceClient), ['note:channel'])
})

t.test('a broadcast naming a user twice, in either spelling, reaches them once, live and in a replay', async (t) => {
  const s = await setup(t)
  s.app.wsDispatcher.broadcast([s.ada, upper(s.ada), s.ada], { type: 'note:twice', data: {} })
  const live = await s.adaClient.sync()
  t.strictSame(live.map((message) => message.type), ['note:twice'], 'once live')
  const since = (live[0] as { offset?: string }).offset!
  s.app.wsDispatcher.broadcast([upper(s.ada), s.ada], { type: 'note:twice-again', data: {} })
  t.strictSame(await receivedTypes(s.adaClient), ['note:twice-again'], 'the next one once live too')
  const resumed = await s.connect(s.ada, { query: `since=${encodeURIComponent(since)}` })
  await resumed.sync()
  t.strictSame(resumed.received.filter((message) => message.type.startsWith('note:')).map((message) => message.type), ['note:twice-again'], 'and once in the replay')
})

t.test('exclusions in upper case leave those users out, through every entry', async (t) => {
  const s = await setup(t)
  const exclude = [upper(s.grace)]
  s.app.wsDispatcher.broadcast([s.ada, s.grace], { type: 'note:b', data: {} }, { exclude })
  await s.app.wsDispatcher.sendToChannel(s.channel, { type: 'note:c', data: {} }, { exclude })
  s.app.wsDispatcher.toEveryone({ type: 'note:e', data: {} }, { exclude })
  t.strictSame(await receivedTypes(s.adaClient), ['note:b', 'note:c', 'note:e'], 'the others receive every event')
  t.strictSame(await receivedTypes(s.graceClient), [], 'the excluded user receives none')
})

t.test('the registry finds a user by an upper-case id', async (t) => {
  const s = await setup(t)
  t.equal(s.app.wsRegistry.senders(upper(s.ada)).size, 1)
  t.ok(s.app.wsRegistry.has(upper(s.ada)))
})

t.test('POST /publish with upper-case user ids, channel id and exclusions', async (t) => {
  const s = await setup(t)
  const post = (body: unknown) =>
    fetch(`${s.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify(body),
    }).then((answer) => answer.status)
  t.equal(await post({ type: 'note:users', data: {}, user_ids: [upper(s.ada)] }), 202)
  t.equal(await post({ type: 'note:channel', data: {}, channel_id: upper(s.channel), exclude_user_ids: [upper(s.ada)] }), 202)
  t.strictSame(await receivedTypes(s.adaClient), ['note:users'], 'Ada gets the event named to her, not the channel one she was left out of')
  t.strictSame(await receivedTypes(s.graceClient), ['note:channel'], 'Grace gets the channel event')
})
