/**
 * Issue 11, items 3 and 8 (contract sections 2 and 5): presence while the
 * database is slow. The fault is real: the test's own FerretDB is stopped
 * with SIGSTOP (it holds its connections and answers nothing) and resumed
 * with SIGCONT; for the race across instances, one instance's traffic to the
 * database is stalled in a TCP relay while the other reaches it directly.
 *
 * What a user would notice: an invisible user never shown online (not by an
 * announcement, not by GET /presence, not in the database), `connected`
 * within a few seconds anyway, their own connections told their real state
 * once it is read, the newest choice winning over a stale read, and no
 * online-then-offline flap for a connection that closed before it settled.
 */
import t, { type Test } from 'tap'
import { build, objectId, WAIT_MS, type TestClient } from '../helper.js'
import { startRedis } from '../servers/redis.js'
import { recordFigures } from '../reliability/record.js'
import {
  databaseClient,
  pausableDatabase,
  presenceAnswer,
  presenceHistory,
  presencesOf,
  seedUsers,
  stallableRelay,
  userWhere,
} from './tools.js'

/** `connected` must come within "a few seconds" even when the chosen state cannot be read. */
const CONNECTED_WITHIN_MS = 4000

function ownPresence(client: TestClient, userId: string) {
  return client.next((m) => m.type === 'presence:update' && m.data.user_id === userId)
}

async function setup(t: Test) {
  const database = await pausableDatabase(t)
  const name = `faults_slow_${objectId().slice(-8)}`
  const db = await databaseClient(t, database.url, name)
  const built = await build(t, { database: { url: database.url, name } })
  return { database, db, ...built }
}

t.test('invisible stays offline to everyone while the chosen state cannot be read; connected comes anyway', async (t) => {
  const { database, db, connect, url, token } = await setup(t)
  const [ghost, busy, observer] = [objectId(), objectId(), objectId()]
  await seedUsers(db, [ghost], { chosen_presence: 'invisible' })
  await seedUsers(db, [busy], { chosen_presence: 'dnd' })
  await seedUsers(db, [observer])
  const o = await connect(observer)
  t.same(o.received[1], { type: 'presence:update', data: { user_id: observer, presence: 'online' } }, 'right after connected: its own real presence')

  await database.pause()
  const pausedAt = Date.now()
  const g = await connect(ghost, { awaitOwnPresence: false })
  const connectedAfter = Date.now() - pausedAt
  t.ok(connectedAfter < CONNECTED_WITHIN_MS, `connected within a few seconds (${connectedAfter} ms)`)
  const b = await connect(busy, { awaitOwnPresence: false })
  t.same(await presenceHistory(o, ghost), [], 'nobody is told the invisible user is online')
  t.same(await presenceHistory(o, busy), [], 'nor anything of a user whose state is not read yet')
  t.same(await presenceAnswer(url, token(observer), [ghost, busy]), { [ghost]: 'offline', [busy]: 'offline' }, 'GET /presence says offline')
  t.same(presencesOf(await g.sync(), ghost), [], 'the user is not told a state that is not theirs')

  database.resume()
  const resumedAt = Date.now()
  t.same((await ownPresence(g, ghost)).data.presence, 'invisible', 'once read, the user’s own connection hears invisible')
  t.same((await ownPresence(b, busy)).data.presence, 'dnd', 'and dnd for the other')
  t.same((await ownPresence(o, busy)).data.presence, 'dnd', 'others see the visible presence once it is read')
  const settledAfter = Date.now() - resumedAt
  t.same(await presenceHistory(o, ghost), [], 'the invisible user was never announced')
  t.same(await presenceAnswer(url, token(observer), [ghost, busy]), { [ghost]: 'offline', [busy]: 'dnd' })
  const doc = await userWhere(db, ghost, (d) => d.presence === 'invisible', 'the stored presence is invisible')
  t.equal(doc.chosen_presence, 'invisible', 'nothing was written over the stored choice')
  recordFigures('faults-slow-database', {
    tried: 'FerretDB stopped with SIGSTOP while an invisible and a dnd user connect, then resumed with SIGCONT',
    held: 'connected within a few seconds; the invisible user offline to others throughout and invisible in the database; dnd announced once read',
    figures: {
      connected_after_ms: connectedAfter,
      settled_after_resume_ms: settledAfter,
      invisible_announcements: presencesOf(o.received, ghost).length,
    },
  })
})

t.test('a choice made while the stored state is still being read wins over the read', async (t) => {
  const { database, db, connect, url, token } = await setup(t)
  const [user, observer] = [objectId(), objectId()]
  await seedUsers(db, [user, observer])
  const o = await connect(observer)
  await database.pause()
  const u = await connect(user, { awaitOwnPresence: false })
  u.send({ type: 'presence:update', data: { presence: 'dnd' } })
  t.equal((await ownPresence(u, user)).data.presence, 'dnd', 'the choice is answered while the database is stopped')
  t.equal((await ownPresence(o, user)).data.presence, 'dnd', 'and announced')
  database.resume()
  // The read went to the database before the write; once the write landed, the read has returned.
  await userWhere(db, user, (d) => d.chosen_presence === 'dnd' && d.presence === 'dnd', 'the choice is stored', 15_000)
  t.same(await presenceHistory(o, user), ['dnd'], 'others never saw the stale read')
  t.same(await presenceHistory(u, user), ['dnd'], 'nor did the user')
  t.same(await presenceAnswer(url, token(observer), [user]), { [user]: 'dnd' })
})

t.test('a connection closed while its presence settles announces nothing', async (t) => {
  const { database, db, connect, app } = await setup(t)
  const [user, observer] = [objectId(), objectId()]
  await seedUsers(db, [user, observer])
  const o = await connect(observer)
  await database.pause()
  const early = await connect(user, { awaitConnected: false })
  await early.close()
  while (app.wsRegistry.has(user)) await new Promise((r) => setTimeout(r, 10))
  database.resume()
  // The same user again: their announcement travels after anything the first connection caused.
  const again = await connect(user, { awaitOwnPresence: false })
  t.equal((await ownPresence(again, user)).data.presence, 'online')
  t.equal((await ownPresence(o, user)).data.presence, 'online')
  t.same(await presenceHistory(o, user), ['online'], 'no online-then-offline flap before it')
})

t.test('a reconnect on another instance before the first one’s write of a new choice landed gets that choice', async (t) => {
  const database = await pausableDatabase(t)
  const relay = await stallableRelay(t, database.url)
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const name = `faults_race_${objectId().slice(-8)}`
  const db = await databaseClient(t, database.url, name)
  const a = await build(t, { database: { url: relay.url, name }, redis: { url: redis.url } })
  const b = await build(t, { database: { url: database.url, name }, redis: { url: redis.url } })
  const [user, observer] = [objectId(), objectId()]
  await seedUsers(db, [user, observer])
  const o = await b.connect(observer)
  const onA = await a.connect(user, { awaitOwnPresence: false })
  t.equal((await ownPresence(onA, user)).data.presence, 'online')
  t.equal((await ownPresence(o, user)).data.presence, 'online', 'seen online across instances')

  relay.stall()
  onA.send({ type: 'presence:update', data: { presence: 'invisible' } })
  t.equal((await ownPresence(onA, user)).data.presence, 'invisible')
  t.equal((await ownPresence(o, user)).data.presence, 'offline', 'others see offline')
  await onA.close()
  while (a.app.wsRegistry.has(user)) await new Promise((r) => setTimeout(r, 10))

  const onB = await b.connect(user, { awaitOwnPresence: false })
  t.equal((await ownPresence(onB, user)).data.presence, 'invisible', 'the newest choice wins over the stale stored one')
  t.same(await presenceHistory(o, user), ['online', 'offline'], 'never shown online again')
  t.same(await presenceAnswer(b.url, b.token(observer), [user]), { [user]: 'offline' })
  t.same(await presenceAnswer(b.url, b.token(user), [user]), { [user]: 'invisible' })

  relay.flow()
  await userWhere(db, user, (d) => d.chosen_presence === 'invisible', 'the first instance’s write lands', WAIT_MS * 3)
  t.same(await presenceHistory(o, user), ['online', 'offline'])
})
