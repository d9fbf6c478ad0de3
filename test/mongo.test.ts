/**
 * The whole service on MongoDB (FerretDB in the test run), beside Roomler2's
 * collections (contract sections 1, 4 and 5): membership is read from
 * `channel_members`, presence is restored from and written to `users`, and
 * nothing else in those documents changes.
 */
import t, { type Test } from 'tap'
import { BSON, type Db, type Document } from 'mongodb'
import { build, eventually, mongoUrl, objectId, testDatabase, type BuiltApp } from './helper.js'
import { addMembers, channelMembersIndex, seedUsersWithProfile, userDoc, userWhere, withoutPresence } from './fixtures/roomler2.js'
import { nextPresenceOf } from './fixtures/messages.js'
import { internalsOf } from '../plugins/internals.js'

function otherFields(doc: Document): Buffer {
  return Buffer.from(BSON.serialize(withoutPresence(doc)))
}

async function setup(t: Test, label: string): Promise<{ db: Db; built: BuiltApp }> {
  const { name, db } = await testDatabase(t, label)
  await channelMembersIndex(db)
  const built = await build(t, { database: { url: mongoUrl(), name } })
  return { db, built }
}

t.test('typing membership is read from channel_members', async (t) => {
  const { db, built } = await setup(t, 'mongo_typing')
  const channel = objectId()
  const [ada, grace, stranger] = [objectId(), objectId(), objectId()]
  await addMembers(db, channel, [ada, grace])
  // Another channel that the stranger is in, to show membership is per channel.
  await addMembers(db, objectId(), [stranger, ada])

  const adaClient = await built.connect(ada)
  const graceClient = await built.connect(grace)
  const strangerClient = await built.connect(stranger)

  adaClient.send({ type: 'typing:start', data: { channel_id: channel } })
  t.same(await graceClient.next('typing:start'), { type: 'typing:start', data: { channel_id: channel, user_id: ada } })
  t.notOk((await adaClient.sync()).some((m) => m.type.startsWith('typing:')), 'the sender does not hear itself')
  t.notOk((await strangerClient.sync()).some((m) => m.type.startsWith('typing:')), 'a non-member hears nothing')

  strangerClient.send({ type: 'typing:start', data: { channel_id: channel } })
  const refused = await strangerClient.next('error')
  t.equal(refused.data.code, 'forbidden')
  t.equal(refused.data.request_type, 'typing:start')
  strangerClient.send({ type: 'typing:stop', data: { channel_id: channel } })
  t.equal((await strangerClient.next('error')).data.code, 'forbidden', 'typing:stop is refused too')
  t.notOk(
    (await graceClient.sync()).some((m) => m.type.startsWith('typing:') && m.data.user_id === stranger),
    'members hear nothing from the non-member',
  )

  adaClient.send({ type: 'typing:stop', data: { channel_id: channel } })
  t.same(await graceClient.next('typing:stop'), { type: 'typing:stop', data: { channel_id: channel, user_id: ada } })
})

t.test('a member added in channel_members is seen once the host drops the channel from the cache', async (t) => {
  const { db, built } = await setup(t, 'mongo_join')
  const channel = objectId()
  const [ada, newcomer] = [objectId(), objectId()]
  await addMembers(db, channel, [ada])
  const adaClient = await built.connect(ada)
  const newcomerClient = await built.connect(newcomer)

  newcomerClient.send({ type: 'typing:start', data: { channel_id: channel } })
  t.equal((await newcomerClient.next('error')).data.code, 'forbidden', 'not a member yet')

  await addMembers(db, channel, [newcomer])
  built.app.wsDispatcher.dropChannel(channel)
  newcomerClient.send({ type: 'typing:start', data: { channel_id: channel } })
  t.same(await adaClient.next('typing:start'), { type: 'typing:start', data: { channel_id: channel, user_id: newcomer } })
})

t.test('a user whose users doc chose dnd comes back dnd', async (t) => {
  const { db, built } = await setup(t, 'mongo_dnd')
  const [observer, ada] = [objectId(), objectId()]
  await seedUsersWithProfile(db, [ada], { chosen_presence: 'dnd' })
  const observerClient = await built.connect(observer)

  const adaClient = await built.connect(ada)
  t.same(await nextPresenceOf(observerClient, ada), { type: 'presence:update', data: { user_id: ada, presence: 'dnd' } })
  t.notOk(
    observerClient.received.some((m) => m.type === 'presence:update' && m.data.user_id === ada && m.data.presence === 'online'),
    'never shown online on the way',
  )
  await eventually(async () => (await userDoc(db, ada))?.presence === 'dnd', undefined, 'users.presence = dnd')

  const answer = await fetch(`${built.url}/presence?user_ids=${ada}`, {
    headers: { authorization: `Bearer ${built.token(observer)}` },
  })
  t.same(await answer.json(), { presences: { [ada]: 'dnd' } })
  await adaClient.close()
})

t.test('a user whose users doc chose invisible reconnects unseen', async (t) => {
  const { db, built } = await setup(t, 'mongo_invisible_restore')
  const [observer, ada] = [objectId(), objectId()]
  await seedUsersWithProfile(db, [ada], { chosen_presence: 'invisible' })
  const observerClient = await built.connect(observer)
  // Presence is settled before `connected`: whatever it announced was sent before the observer's pong.
  await built.connect(ada)
  t.notOk(
    (await observerClient.sync()).some((m) => m.type === 'presence:update' && m.data.user_id === ada),
    'nobody is told an invisible user came online',
  )
  const ask = async (asker: string) => {
    const answer = await fetch(`${built.url}/presence?user_ids=${ada}`, {
      headers: { authorization: `Bearer ${built.token(asker)}` },
    })
    return answer.json()
  }
  t.same(await ask(observer), { presences: { [ada]: 'offline' } }, 'others see offline')
  t.same(await ask(ada), { presences: { [ada]: 'invisible' } }, 'the user sees their real state')
  await eventually(async () => (await userDoc(db, ada))?.presence === 'invisible', undefined, 'users.presence = invisible')
})

t.test('presence:update invisible is written to users', async (t) => {
  const { db, built } = await setup(t, 'mongo_invisible_write')
  const ada = objectId()
  await seedUsersWithProfile(db, [ada])
  const before = (await userDoc(db, ada))!

  const adaClient = await built.connect(ada)
  adaClient.send({ type: 'presence:update', data: { presence: 'invisible' } })
  t.same(await nextPresenceOf(adaClient, ada), { type: 'presence:update', data: { user_id: ada, presence: 'invisible' } })
  const written = await userWhere(
    db,
    ada,
    (doc) => doc.presence === 'invisible' && doc.chosen_presence === 'invisible',
    'users.presence and users.chosen_presence = invisible',
  )
  t.ok(otherFields(written).equals(otherFields(before)), 'the other fields are untouched')
})

t.test('the last connection closing writes offline and last_active_at', async (t) => {
  const { db, built } = await setup(t, 'mongo_offline')
  const [observer, ada] = [objectId(), objectId()]
  await seedUsersWithProfile(db, [ada])
  const before = (await userDoc(db, ada))!
  const observerClient = await built.connect(observer)

  const tab1 = await built.connect(ada)
  const tab2 = await built.connect(ada)
  t.equal((await nextPresenceOf(observerClient, ada)).data.presence, 'online')
  await eventually(async () => (await userDoc(db, ada))?.presence === 'online', undefined, 'users.presence = online')

  await tab1.close()
  await eventually(() => built.app.wsRegistry.senders(ada).size === 1, undefined, 'the first tab is gone')
  t.notOk(
    (await observerClient.sync()).some((m) => m.type === 'presence:update' && m.data.user_id === ada),
    'one tab closing while another is open changes nothing',
  )

  const closedAt = Date.now()
  await tab2.close()
  t.same(await nextPresenceOf(observerClient, ada), { type: 'presence:update', data: { user_id: ada, presence: 'offline' } })
  const written = await userWhere(
    db,
    ada,
    (doc) => doc.presence === 'offline' && doc.last_active_at instanceof Date && doc.last_active_at.getTime() >= closedAt - 1000,
    'users.presence = offline with a fresh last_active_at',
  )
  const lastActive = (written.last_active_at as Date).getTime()
  t.ok(Math.abs(lastActive - Date.now()) < 10_000, `last_active_at (${new Date(lastActive).toISOString()}) is near now`)
  t.ok(lastActive >= closedAt - 1000, 'set when the last connection closed')
  t.notOk('chosen_presence' in written, 'no choice is invented for a user who never chose')
  t.ok(otherFields(written).equals(otherFields(before)), 'the other fields are untouched')
})

t.test('shutting down records every connected user offline in users', async (t) => {
  const { db, built } = await setup(t, 'mongo_shutdown')
  const [ada, grace] = [objectId(), objectId()]
  await seedUsersWithProfile(db, [ada], { chosen_presence: 'dnd' })
  await seedUsersWithProfile(db, [grace])
  const before = (await userDoc(db, ada))!
  const adaClient = await built.connect(ada)
  const graceClient = await built.connect(grace)
  await userWhere(db, ada, (doc) => doc.presence === 'dnd', 'users.presence = dnd')
  await userWhere(db, grace, (doc) => doc.presence === 'online', 'users.presence = online')

  const closingAt = Date.now()
  await built.app.close()
  t.equal((await adaClient.closed).code, 1001)
  t.equal((await graceClient.closed).code, 1001)
  // Closing waits for the presence writes: they have landed by the time close resolves.
  for (const id of [ada, grace]) {
    const doc = (await userDoc(db, id))!
    t.equal(doc.presence, 'offline', 'users.presence = offline')
    t.ok(doc.last_active_at instanceof Date && doc.last_active_at.getTime() >= closingAt - 1000, 'last_active_at set')
  }
  const adaAfter = (await userDoc(db, ada))!
  t.equal(adaAfter.chosen_presence, 'dnd', 'the choice is kept for the next connection')
  t.ok(otherFields(adaAfter).equals(otherFields(before)), 'the other fields are untouched')
})

t.test('a user with no users document is never created', async (t) => {
  const { db, built } = await setup(t, 'mongo_no_user')
  const [observer, ghost] = [objectId(), objectId()]
  const observerClient = await built.connect(observer)
  const client = await built.connect(ghost)
  client.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await nextPresenceOf(client, ghost)
  await client.close()
  await observerClient.next((m) => m.type === 'presence:update' && m.data.user_id === ghost && m.data.presence === 'offline')
  // Every write for the ghost is recorded by now; wait until they have landed.
  t.ok(await internalsOf(built.app).presenceWriter.drain(3000), 'the presence writes went through')
  t.equal(await db.collection('users').countDocuments({}), 0, 'no users document was created')
})

t.test('/ready answers 200 with the database ok', async (t) => {
  const { built } = await setup(t, 'mongo_ready')
  t.equal(internalsOf(built.app).realtimeStores.kind, 'mongodb')
  const answer = await fetch(`${built.url}/ready`)
  t.equal(answer.status, 200)
  t.match(await answer.json(), { dependencies: { database: 'ok' } })
})
