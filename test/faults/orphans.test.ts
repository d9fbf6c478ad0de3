/**
 * An instance that starts alone records offline the users whose connections
 * died with the previous processes (contract section 5, a restart of the
 * whole cluster). The fault: its own path to the database is stalled, so
 * that pass waits, while a second instance joins and a user connects there
 * and is recorded online. When the first instance reaches the database, the
 * real orphan goes offline and the user connected elsewhere stays online.
 */
import t from 'tap'
import { build, eventually, objectId } from '../helper.js'
import { startRedis } from '../servers/redis.js'
import { databaseClient, pausableDatabase, seedUsers, stallableRelay, userWhere } from './tools.js'

t.test('a lone starter that reaches the database late leaves the users of an instance that joined meanwhile online', async (t) => {
  const database = await pausableDatabase(t)
  const relay = await stallableRelay(t, database.url)
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const name = `faults_orphans_${objectId().slice(-8)}`
  const db = await databaseClient(t, database.url, name)
  const [orphan, user] = [objectId(), objectId()]
  // The orphan was online when the whole cluster died, an hour ago.
  await seedUsers(db, [orphan], { presence: 'online', presence_changed_at: new Date(Date.now() - 3600_000) })
  await seedUsers(db, [user])

  relay.stall()
  // Alone in Redis: it will record the orphans offline, once it reaches the database.
  const a = await build(t, { database: { url: relay.url, name }, redis: { url: redis.url } })
  const b = await build(t, { database: { url: database.url, name }, redis: { url: redis.url } })
  await b.connect(user)
  await userWhere(db, user, (doc) => doc.presence === 'online', 'the user connected to the second instance recorded online')
  // The first instance has given up one try since then, and tries again once it reaches the database.
  await eventually(() => a.logs.some((line) => line.includes('could not record orphaned presence yet')), 10_000, 'a failed orphan pass')

  relay.flow()
  await userWhere(db, orphan, (doc) => doc.presence === 'offline', 'the orphan recorded offline by the first instance', 20_000)
  t.pass('the first instance’s orphan pass ran')
  const doc = await db.collection('users').findOne({ username: `user_${user.slice(-6)}` })
  t.equal(doc!.presence, 'online', 'the user connected to the second instance is still recorded online')
})
