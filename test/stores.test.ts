/**
 * Conformance suites for the two store ports (contract section 1, "Data"):
 * each suite takes a factory and runs once on the in-memory store and once
 * on the MongoDB store over a database of its own, so both keep one promise.
 * Checks that only make sense for Roomler2's collections (no upsert, other
 * fields untouched, BSON types) follow each suite.
 */
import { createServer } from 'node:net'
import t, { type Test } from 'tap'
import { BSON, MongoClient, ObjectId, type Document } from 'mongodb'
import type { MembershipStore } from '../lib/membership/membership-store.js'
import type { PresenceRecord, PresenceStore } from '../lib/presence/presence-store.js'
import { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'
import { MemoryPresenceStore } from '../lib/presence/presence-store-memory.js'
import { MongoMembershipStore } from '../lib/mongo/membership-store.js'
import { MongoPresenceStore } from '../lib/mongo/presence-store.js'
import { objectId, testDatabase } from './helper.js'
import { addMembers, channelMembersIndex, seedUsersWithProfile, storedPresence, userDoc, withoutPresence } from './fixtures/roomler2.js'

const HEX24 = /^[0-9a-f]{24}$/

// ---------------------------------------------------------------- membership

interface MembershipHarness {
  store: MembershipStore
  /** Puts users into a channel the way the backend's owner does (Roomler2, or the host). */
  seed(channelId: string, userIds: readonly string[]): Promise<void>
}
type MembershipFactory = (t: Test) => Promise<MembershipHarness>

function membershipSuite(t: Test, makeStore: MembershipFactory) {
  t.test('lists a channel’s members as 24 lowercase hex ids', async (t) => {
    const { store, seed } = await makeStore(t)
    const channel = objectId()
    const members = [objectId(), objectId(), objectId()]
    await seed(channel, members)
    const listed = await store.channelMembers(channel)
    for (const id of listed) t.match(id, HEX24, `${id} is 24 lowercase hex`)
    t.same([...listed].sort(), [...members].sort(), 'exactly the seeded members')
  })

  t.test('keeps channels apart', async (t) => {
    const { store, seed } = await makeStore(t)
    const [general, random] = [objectId(), objectId()]
    const shared = objectId()
    const onlyGeneral = objectId()
    const onlyRandom = objectId()
    await seed(general, [shared, onlyGeneral])
    await seed(random, [shared, onlyRandom])
    t.same((await store.channelMembers(general)).sort(), [shared, onlyGeneral].sort())
    t.same((await store.channelMembers(random)).sort(), [shared, onlyRandom].sort())
  })

  t.test('an unknown channel has no members', async (t) => {
    const { store, seed } = await makeStore(t)
    await seed(objectId(), [objectId()])
    t.same(await store.channelMembers(objectId()), [])
  })

  t.test('a large channel is listed whole', async (t) => {
    const { store, seed } = await makeStore(t)
    const channel = objectId()
    // More than a MongoDB cursor's first batch (101 documents).
    const members = Array.from({ length: 250 }, () => objectId())
    await seed(channel, members)
    const listed = await store.channelMembers(channel)
    t.equal(listed.length, 250)
    t.same(new Set(listed), new Set(members))
  })

  t.test('ping resolves while the backend answers', async (t) => {
    const { store } = await makeStore(t)
    await t.resolves(store.ping())
  })
}

// ---------------------------------------------------------------- presence

interface StoredPresence {
  presence?: string
  chosenPresence?: string
  lastActiveAt?: Date
}
interface PresenceHarness {
  store: PresenceStore
  /** Makes the user exist, as Roomler2 does when someone registers. */
  createUser(userId: string): Promise<void>
  /** The presence fields as stored for the user; undefined when there is no record. */
  read(userId: string): Promise<StoredPresence | undefined>
}
type PresenceFactory = (t: Test) => Promise<PresenceHarness>

function presenceSuite(t: Test, makeStore: PresenceFactory) {
  t.test('of two writes the later change wins, whichever lands last', async (t) => {
    const { store, createUser, read } = await makeStore(t)
    const user = objectId()
    await createUser(user)
    const earlier = new Date(Date.now() - 1000)
    const later = new Date()
    await store.write(user, { presence: 'dnd', chosenPresence: 'dnd', changedAt: later })
    await store.write(user, { presence: 'online', chosenPresence: 'online', changedAt: earlier })
    t.equal((await read(user))?.presence, 'dnd', 'the late-landing older write was dropped')
    t.equal(await store.chosenPresence(user), 'dnd')
    await store.write(user, { presence: 'offline', lastActiveAt: later, changedAt: new Date(later.getTime() + 1) })
    t.equal((await read(user))?.presence, 'offline', 'a newer write lands')
    await store.write(user, { presence: 'online', changedAt: new Date(later.getTime() + 2) })
    t.equal(await store.markOrphansOffline([], earlier), 0, 'an orphan sweep older than the last change changes nothing')
    t.equal((await read(user))?.presence, 'online')
  })

  t.test('an unknown user has no chosen presence', async (t) => {
    const { store } = await makeStore(t)
    t.equal(await store.chosenPresence(objectId()), undefined)
  })

  t.test('a user who never chose has no chosen presence, even after presence writes', async (t) => {
    const { store, createUser } = await makeStore(t)
    const user = objectId()
    await createUser(user)
    t.equal(await store.chosenPresence(user), undefined)
    await store.write(user, { presence: 'online' })
    await store.write(user, { presence: 'offline', lastActiveAt: new Date() })
    t.equal(await store.chosenPresence(user), undefined)
  })

  t.test('every choosable state is kept and read back', async (t) => {
    const { store, createUser, read } = await makeStore(t)
    for (const chosen of ['online', 'idle', 'dnd', 'invisible'] as const) {
      const user = objectId()
      await createUser(user)
      await store.write(user, { presence: chosen, chosenPresence: chosen })
      t.equal(await store.chosenPresence(user), chosen, `${chosen} is read back`)
      t.equal((await read(user))?.presence, chosen, `presence ${chosen} is stored`)
    }
  })

  t.test('write sets only the fields it is given', async (t) => {
    const { store, createUser, read } = await makeStore(t)
    const user = objectId()
    await createUser(user)
    await store.write(user, { presence: 'dnd', chosenPresence: 'dnd' })
    const at = new Date(Date.now() - 60_000)
    await store.write(user, { presence: 'offline', lastActiveAt: at })
    const stored = await read(user)
    t.equal(stored?.presence, 'offline')
    t.equal(stored?.chosenPresence, 'dnd', 'the choice survives a write that does not name it')
    t.equal(stored?.lastActiveAt?.getTime(), at.getTime())
    t.equal(await store.chosenPresence(user), 'dnd', 'so dnd survives a reconnect')

    await store.write(user, { presence: 'online' })
    const after = await read(user)
    t.equal(after?.presence, 'online')
    t.equal(after?.chosenPresence, 'dnd')
    t.equal(after?.lastActiveAt?.getTime(), at.getTime(), 'last_active_at is left as it was')
  })

  t.test('an empty write changes nothing', async (t) => {
    const { store, createUser, read } = await makeStore(t)
    const user = objectId()
    await createUser(user)
    const at = new Date(Date.now() - 5_000)
    await store.write(user, { presence: 'idle', chosenPresence: 'idle', lastActiveAt: at })
    const before = await read(user)
    await store.write(user, {})
    t.same(await read(user), before)
  })

  t.test('later writes override earlier ones', async (t) => {
    const { store, createUser, read } = await makeStore(t)
    const user = objectId()
    await createUser(user)
    const first = new Date(Date.now() - 120_000)
    const second = new Date(Date.now() - 1_000)
    await store.write(user, { presence: 'invisible', chosenPresence: 'invisible', lastActiveAt: first })
    await store.write(user, { presence: 'idle', chosenPresence: 'idle', lastActiveAt: second })
    t.equal(await store.chosenPresence(user), 'idle')
    const stored = await read(user)
    t.equal(stored?.presence, 'idle')
    t.equal(stored?.lastActiveAt?.getTime(), second.getTime())
  })

  t.test('users are kept apart', async (t) => {
    const { store, createUser } = await makeStore(t)
    const [ada, grace] = [objectId(), objectId()]
    await createUser(ada)
    await createUser(grace)
    await store.write(ada, { presence: 'dnd', chosenPresence: 'dnd' })
    t.equal(await store.chosenPresence(ada), 'dnd')
    t.equal(await store.chosenPresence(grace), undefined)
  })

  t.test('ping resolves while the backend answers', async (t) => {
    const { store } = await makeStore(t)
    await t.resolves(store.ping())
  })
}

// ---------------------------------------------------------------- memory

t.test('MembershipStore: memory', async (t) => {
  membershipSuite(t, async () => {
    const store = new MemoryMembershipStore()
    return {
      store,
      async seed(channelId, userIds) {
        for (const userId of userIds) store.addMember(channelId, userId)
      },
    }
  })

  t.test('a removed member is no longer listed', async (t) => {
    const store = new MemoryMembershipStore()
    const channel = objectId()
    const [ada, grace] = [objectId(), objectId()]
    store.addMember(channel, ada)
    store.addMember(channel, grace)
    store.addMember(channel, grace)
    t.same((await store.channelMembers(channel)).sort(), [ada, grace].sort(), 'adding twice lists once')
    store.removeMember(channel, grace)
    t.same(await store.channelMembers(channel), [ada])
  })
})

t.test('PresenceStore: memory', async (t) => {
  presenceSuite(t, async () => {
    const store = new MemoryPresenceStore()
    return {
      store,
      async createUser() {},
      async read(userId) {
        const record: PresenceRecord | undefined = store.record(userId)
        return record && { presence: record.presence, chosenPresence: record.chosenPresence, lastActiveAt: record.lastActiveAt }
      },
    }
  })
})

// ---------------------------------------------------------------- MongoDB

/** A MongoDB URL where nothing listens. */
async function deadMongoUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 1
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `mongodb://127.0.0.1:${port}/`
}

async function deadDatabase(t: Test) {
  const client = new MongoClient(await deadMongoUrl(), { serverSelectionTimeoutMS: 300 })
  t.teardown(() => client.close())
  return client.db('nowhere')
}

t.test('MembershipStore: MongoDB', async (t) => {
  membershipSuite(t, async (t) => {
    const { db } = await testDatabase(t, 'membership')
    await channelMembersIndex(db)
    return {
      store: new MongoMembershipStore(db),
      seed: (channelId, userIds) => addMembers(db, channelId, userIds),
    }
  })

  t.test('ping rejects when the database does not answer', async (t) => {
    const store = new MongoMembershipStore(await deadDatabase(t))
    await t.rejects(store.ping())
  })
})

t.test('PresenceStore: MongoDB', async (t) => {
  presenceSuite(t, async (t) => {
    const { db } = await testDatabase(t, 'presence')
    return {
      store: new MongoPresenceStore(db),
      createUser: (userId) => seedUsersWithProfile(db, [userId]),
      read: (userId) => storedPresence(db, userId),
    }
  })

  t.test('never creates a user (no upsert)', async (t) => {
    const { db } = await testDatabase(t, 'presence_no_upsert')
    const store = new MongoPresenceStore(db)
    const stranger = objectId()
    await store.write(stranger, { presence: 'online', chosenPresence: 'dnd', lastActiveAt: new Date() })
    await store.write(stranger, { presence: 'offline' })
    t.equal(await db.collection('users').countDocuments({}), 0, 'no document was written')
    t.equal(await store.chosenPresence(stranger), undefined)
  })

  t.test('never touches the other fields of a users document', async (t) => {
    const { db } = await testDatabase(t, 'presence_fields')
    const users = db.collection('users')
    const store = new MongoPresenceStore(db)
    const user = objectId()
    const neighbour = objectId()
    await seedUsersWithProfile(db, [user])
    await seedUsersWithProfile(db, [neighbour], { username: 'grace', email: 'grace@example.test' })
    const before = await userDoc(db, user)
    const neighbourBefore = await userDoc(db, neighbour)
    t.ok(before && neighbourBefore)

    await store.write(user, { presence: 'online' })
    await store.write(user, { presence: 'dnd', chosenPresence: 'dnd' })
    await store.write(user, { presence: 'offline', lastActiveAt: new Date() })

    const after = await userDoc(db, user)
    t.ok(after)
    t.same(
      Buffer.from(BSON.serialize(withoutPresence(after!))),
      Buffer.from(BSON.serialize(withoutPresence(before!))),
      'every other field is byte-identical, in the same order',
    )
    t.same(
      Buffer.from(BSON.serialize((await userDoc(db, neighbour))!)),
      Buffer.from(BSON.serialize(neighbourBefore!)),
      'another user’s document is byte-identical',
    )
  })

  t.test('stores the contract’s field names and types', async (t) => {
    const { db } = await testDatabase(t, 'presence_types')
    const users = db.collection('users')
    const store = new MongoPresenceStore(db)
    const user = objectId()
    await users.insertOne({ _id: new ObjectId(user), name: 'Grace', email: 'grace@example.test' })
    const at = new Date()
    await store.write(user, { presence: 'invisible', chosenPresence: 'invisible', lastActiveAt: at })
    const raw = await users.findOne({ _id: new ObjectId(user) }, { promoteValues: false })
    t.ok(raw)
    t.equal(raw!.presence?.toString(), 'invisible', 'presence')
    t.equal(raw!.chosen_presence?.toString(), 'invisible', 'chosen_presence')
    const doc = await userDoc(db, user)
    t.ok(doc!.last_active_at instanceof Date, 'last_active_at is a BSON Date, not a string or a number')
    t.equal((doc!.last_active_at as Date).getTime(), at.getTime())
    t.same(Object.keys(doc!).sort(), ['_id', 'chosen_presence', 'email', 'last_active_at', 'name', 'presence'])
    t.equal(await users.countDocuments({ last_active_at: { $type: 'date' } }), 1, 'queryable as a date')
  })

  t.test('a stored chosen_presence that is not a choosable state counts as none', async (t) => {
    const { db } = await testDatabase(t, 'presence_bogus')
    const users = db.collection('users')
    const store = new MongoPresenceStore(db)
    const [offline, garbage] = [objectId(), objectId()]
    await users.insertMany([
      { _id: new ObjectId(offline), chosen_presence: 'offline' },
      { _id: new ObjectId(garbage), chosen_presence: 'away-from-keyboard' },
    ])
    t.equal(await store.chosenPresence(offline), undefined)
    t.equal(await store.chosenPresence(garbage), undefined)
  })

  t.test('ping rejects when the database does not answer', async (t) => {
    const store = new MongoPresenceStore(await deadDatabase(t))
    await t.rejects(store.ping())
  })
})
