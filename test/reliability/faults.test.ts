/**
 * Faults (contract sections 5 and 6): the database stops and comes back while
 * clients type and change presence; the standalone server is killed with
 * SIGKILL and started again; the server starts while the database is down.
 *
 * Each test runs a FerretDB of its own on a fixed free port with a fixed data
 * directory, so that it can be stopped and started again with the same data
 * at the same address. Every process started here is stopped by its PID.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MongoClient, type Db } from 'mongodb'
import t, { type Test } from 'tap'
import { startFerretDB, type RunningFerretDB } from '../servers/ferretdb.js'
import { SECRET, WAIT_MS, build, connect, eventually, objectId, signToken, type TestClient, withoutOffset } from '../helper.js'
import { recordFigures } from './record.js'
import { freePort } from '../servers/ports.js'
import { spawnStandalone, type Standalone } from '../servers/standalone.js'
import { addMembers, channelMembersIndex, seedUsers, userDoc, userWhere } from '../fixtures/roomler2.js'
import { nextPresenceOf } from '../fixtures/messages.js'
import { internalsOf } from '../../plugins/internals.js'

/** How long a spawned server may take to listen (tsx compiles on the fly; a down database adds the orphan wait). */
const START_MS = 15_000
/** A database call fails after the driver's server selection timeout (3 s); this leaves a margin. */
const UNAVAILABLE_MS = 8_000
/** Presence writes are retried with a backoff of at most 5 s; catching up may take that plus a server selection. */
const CATCH_UP_MS = 15_000


/** A FerretDB of this test's own that can be stopped and started again on the same port and data. */
interface OwnFerretDB {
  url: string
  stop(): Promise<void>
  start(): Promise<void>
}

async function ownFerretDB(t: Test): Promise<OwnFerretDB> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'roomler-faults-'))
  let running: RunningFerretDB | undefined = await startFerretDB({ port, dataDir })
  const url = running.url
  t.teardown(async () => {
    await running?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })
  return {
    url,
    async stop() {
      const stopping = running
      running = undefined
      await stopping?.stop()
    },
    async start() {
      if (running) return
      running = await startFerretDB({ port, dataDir })
    },
  }
}

/** A client of the test's own to seed and read the database; quick to fail while it is down. */
async function databaseClient(t: Test, url: string, name: string): Promise<Db> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 2000 })
  await client.connect()
  t.teardown(() => client.close(true))
  return client.db(name)
}

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url)
  return { status: response.status, body: await response.json() }
}

/** Polls /ready until it answers 200; a timeout names the last answer. */
async function readyAgain(baseUrl: string, timeoutMs: number): Promise<void> {
  await eventually(
    async () => {
      const ready = await getJson(`${baseUrl}/ready`)
      if (ready.status !== 200) throw new Error(`the last answer was ${ready.status} ${JSON.stringify(ready.body)}`)
      return true
    },
    timeoutMs,
    '/ready back to 200',
  )
}

/** The standalone server on the test's secret, with `env` on top. */
function spawnServer(t: Test, env: Record<string, string>): Promise<Standalone> {
  return spawnStandalone(t, { env: { ROOMLER__JWT__SECRET: SECRET, ...env } })
}

/** The promise's outcome, or a failure naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** SIGTERM, then its exit (the teardown kills it if it does not). */
async function stopServer(server: Standalone): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return
  server.child.kill('SIGTERM')
  await server.exit(WAIT_MS).catch(() => {})
}

t.test('database down while clients work: serving goes on, presence catches up when it returns', async (t) => {
  const ferret = await ownFerretDB(t)
  const name = 'faults_outage'
  const db = await databaseClient(t, ferret.url, name)
  const channel = objectId()
  const [ada, grace, linus] = [objectId(), objectId(), objectId()]
  await seedUsers(db, [ada, grace, linus])
  await channelMembersIndex(db)
  await addMembers(db, channel, [ada, grace, linus])

  const built = await build(t, { database: { url: ferret.url, name }, realtime: { membershipCacheMs: 0 } })
  const { app } = built
  const adaClient = await built.connect(ada)
  const graceClient = await built.connect(grace)
  const linusClient = await built.connect(linus)
  await nextPresenceOf(adaClient, linus)
  await nextPresenceOf(graceClient, linus)

  // Before the outage: typing flows and presence is in the database.
  adaClient.send({ type: 'typing:start', data: { channel_id: channel } })
  await graceClient.next('typing:start')
  await linusClient.next('typing:start')
  adaClient.send({ type: 'typing:stop', data: { channel_id: channel } })
  await graceClient.next('typing:stop')
  await linusClient.next('typing:stop')
  for (const id of [ada, grace, linus]) await userWhere(db, id, (doc) => doc.presence === 'online', 'everyone recorded online')
  await eventually(() => internalsOf(app).presenceWriter.backlog === 0, WAIT_MS, 'no write waiting before the outage')
  t.equal((await getJson(`${built.url}/ready`)).status, 200, 'ready before the outage')
  const failuresBefore = internalsOf(app).realtimeMetrics.presenceWriteFailures

  // The database stops.
  await ferret.stop()
  const outageStart = Date.now()

  adaClient.send({ type: 'typing:start', data: { channel_id: channel } })
  const refused = await adaClient.next('error', UNAVAILABLE_MS)
  const unavailableMs = Date.now() - outageStart
  t.equal(refused.data.code, 'unavailable', `typing:start gets unavailable (after ${unavailableMs} ms)`)
  t.equal(refused.data.request_type, 'typing:start', 'naming the request')
  t.same(await adaClient.sync(), [], 'the connection stays usable: a ping is answered')
  t.notOk((await graceClient.sync()).some((m) => m.type.startsWith('typing:')), 'nobody hears of the refused typing')
  t.notOk((await linusClient.sync()).some((m) => m.type.startsWith('typing:')), 'nobody hears of the refused typing (2)')

  // Presence still flows between connected users.
  adaClient.send({ type: 'presence:update', data: { presence: 'idle' } })
  t.same(await nextPresenceOf(adaClient, ada), { type: 'presence:update', data: { user_id: ada, presence: 'idle' } }, 'the user hears its own change')
  t.same((await nextPresenceOf(graceClient, ada)).data.presence, 'idle', 'others hear it')
  t.same((await nextPresenceOf(linusClient, ada)).data.presence, 'idle', 'every other user hears it')
  graceClient.send({ type: 'presence:update', data: { presence: 'dnd' } })
  t.same((await nextPresenceOf(adaClient, grace)).data.presence, 'dnd', 'a second user’s change reaches the others')
  t.same((await nextPresenceOf(linusClient, grace)).data.presence, 'dnd', 'to every other user')

  const ready = await getJson(`${built.url}/ready`)
  t.match(ready, { status: 503, body: { status: 'unavailable', dependencies: { database: 'down' } } }, '/ready: 503, database down')
  t.equal((await fetch(`${built.url}/health`)).status, 200, '/health: the process serves')

  // One user leaves during the outage; another changes again.
  const linusLeftFrom = Date.now()
  await linusClient.close()
  t.same((await nextPresenceOf(adaClient, linus)).data.presence, 'offline', 'a departure reaches the others')
  t.same((await nextPresenceOf(graceClient, linus)).data.presence, 'offline', 'to every other user')
  adaClient.send({ type: 'presence:update', data: { presence: 'invisible' } })
  t.same((await nextPresenceOf(adaClient, ada)).data.presence, 'invisible', 'the user hears its own last choice')
  t.same((await nextPresenceOf(graceClient, ada)).data.presence, 'offline', 'others see the invisible user offline')

  // Failures past the first round of writes (ada, grace, linus) are retries.
  await eventually(
    () => internalsOf(app).realtimeMetrics.presenceWriteFailures - failuresBefore >= 4,
    CATCH_UP_MS,
    'presence writes failed and were retried',
  )
  t.ok(internalsOf(app).presenceWriter.backlog > 0, `presence writes wait for the database (backlog ${internalsOf(app).presenceWriter.backlog})`)
  t.same(await adaClient.sync(), [], 'still serving')

  // The database comes back, same port, same data.
  await ferret.start()
  const restartedAt = Date.now()
  const outageMs = restartedAt - outageStart
  await readyAgain(built.url, CATCH_UP_MS)
  const readyAfterMs = Date.now() - restartedAt
  t.match(await getJson(`${built.url}/ready`), { status: 200, body: { dependencies: { database: 'ok' } } }, '/ready: database ok')
  await eventually(() => internalsOf(app).presenceWriter.backlog === 0, CATCH_UP_MS, 'every presence write landed')
  const lastWriteMs = Date.now() - restartedAt
  const writesRetried = internalsOf(app).realtimeMetrics.presenceWriteFailures - failuresBefore

  const adaDoc = await userWhere(db, ada, () => true, 'ada')
  t.match(adaDoc, { presence: 'invisible', chosen_presence: 'invisible', username: `user_${ada.slice(-6)}` }, 'the last choice is in the database')
  const graceDoc = await userWhere(db, grace, () => true, 'grace')
  t.match(graceDoc, { presence: 'dnd', chosen_presence: 'dnd' }, 'the second user’s choice too')
  const linusDoc = await userWhere(db, linus, () => true, 'linus')
  t.equal(linusDoc.presence, 'offline', 'the user who left is offline')
  const leftAt = (linusDoc.last_active_at as Date).getTime()
  t.ok(
    leftAt >= linusLeftFrom - 1 && leftAt <= restartedAt,
    `with last_active_at at the time of leaving, during the outage (${linusDoc.last_active_at.toISOString()})`,
  )

  // Typing works again; the first try may still be refused at once (contract
  // section 4: `unavailable` without waiting until a membership read succeeds).
  const typed = await eventually(
    async () => {
      graceClient.send({ type: 'typing:start', data: { channel_id: channel } })
      return adaClient.next('typing:start', 3000).catch(() => undefined)
    },
    CATCH_UP_MS,
    'typing is accepted again',
  )
  t.same(typed, { type: 'typing:start', data: { channel_id: channel, user_id: grace } }, 'typing works again')
  t.notOk((await graceClient.sync()).some((m) => m.type === 'error' && m.data.code !== 'unavailable'), 'without another error')

  const figures = {
    outage_ms: outageMs,
    typing_unavailable_after_ms: unavailableMs,
    presence_writes_retried: writesRetried,
    restart_to_ready_ms: readyAfterMs,
    restart_to_last_write_ms: lastWriteMs,
  }
  t.comment(JSON.stringify(figures))
  recordFigures('faults-database-down', {
    tried: `FerretDB stopped for ${outageMs} ms under three connected users who typed, changed presence and left, then started again on the same port and data`,
    held: `typing got unavailable and the connection stayed usable, presence reached every connected user, /ready said 503 then 200, and the ${writesRetried} failed presence writes landed ${lastWriteMs} ms after the restart`,
    figures,
  })
})

t.test('SIGKILL of the server: a new server records offline the users whose connections died with it', async (t) => {
  const ferret = await ownFerretDB(t)
  const name = 'faults_sigkill'
  const db = await databaseClient(t, ferret.url, name)
  const [ada, grace, linus] = [objectId(), objectId(), objectId()]
  await seedUsers(db, [ada, grace, linus])
  const env = { ROOMLER__DATABASE__URL: ferret.url, ROOMLER__DATABASE__NAME: name }

  const first = await spawnServer(t, env)
  await first.listening(START_MS)
  const adaClient = await connect(t, first.wsUrl, signToken({ sub: ada }))
  const graceClient = await connect(t, first.wsUrl, signToken({ sub: grace }))
  graceClient.send({ type: 'presence:update', data: { presence: 'dnd' } })
  await nextPresenceOf(graceClient, grace)
  await userWhere(db, ada, (doc) => doc.presence === 'online', 'ada recorded online')
  await userWhere(db, grace, (doc) => doc.presence === 'dnd' && doc.chosen_presence === 'dnd', 'grace recorded dnd')
  t.pass('users.presence shows both present')

  const killedAt = Date.now()
  first.child.kill('SIGKILL')
  await within(first.exited, WAIT_MS, 'the exit of the killed server')
  t.equal(first.child.signalCode, 'SIGKILL', 'the first server died by SIGKILL')
  await within(Promise.all([adaClient.closed, graceClient.closed]), WAIT_MS, 'the close of the dead connections')
  t.same((await userDoc(db, ada))?.presence, 'online', 'the database still shows the dead connections present')

  const second = await spawnServer(t, env)
  const spawnedAt = Date.now()
  await second.listening(START_MS)
  const listenMs = Date.now() - spawnedAt
  const adaDoc = await userWhere(db, ada, (doc) => doc.presence === 'offline', 'ada recorded offline by the new server', START_MS)
  const graceDoc = await userWhere(db, grace, (doc) => doc.presence === 'offline', 'grace recorded offline by the new server', START_MS)
  const recoveredMs = Date.now() - spawnedAt
  for (const [label, doc] of [['ada', adaDoc], ['grace', graceDoc]] as const) {
    const at = (doc.last_active_at as Date).getTime()
    t.ok(at >= killedAt - 1 && at <= Date.now(), `${label}: last_active_at set after the kill (${doc.last_active_at.toISOString()})`)
  }
  t.equal(graceDoc.chosen_presence, 'dnd', 'the chosen presence (dnd) is kept')
  t.equal(adaDoc.username, `user_${ada.slice(-6)}`, 'other fields are left alone')

  // Users who connect to the new server are present.
  const linusClient = await connect(t, second.wsUrl, signToken({ sub: linus }))
  await userWhere(db, linus, (doc) => doc.presence === 'online', 'a user connected to the new server is online')
  const graceAgain = await connect(t, second.wsUrl, signToken({ sub: grace }))
  t.same((await nextPresenceOf(linusClient, grace)).data.presence, 'dnd', 'grace comes back dnd, as she chose')
  await userWhere(db, grace, (doc) => doc.presence === 'dnd', 'grace recorded dnd again')
  t.same(await graceAgain.sync(), [], 'and is served')

  await stopServer(second)
  const figures = { new_server_listen_ms: listenMs, spawn_to_orphans_offline_ms: recoveredMs, orphaned_users: 2 }
  t.comment(JSON.stringify(figures))
  recordFigures('faults-sigkill', {
    tried: 'the standalone server killed with SIGKILL under two connected users (one dnd), then a new server started on the same database',
    held: `the new server recorded both offline with last_active_at ${recoveredMs} ms after it was spawned, kept the dnd choice, and served new connections`,
    figures,
  })
})

t.test('the server starts while the database is down, serves, and catches up when it starts', async (t) => {
  const ferret = await ownFerretDB(t)
  const name = 'faults_start_down'
  const db = await databaseClient(t, ferret.url, name)
  const [ada, grace, stale] = [objectId(), objectId(), objectId()]
  await seedUsers(db, [ada, grace])
  // Left present by a process that died while the database was down.
  await seedUsers(db, [stale], { presence: 'online' })
  await ferret.stop()

  const server = await spawnServer(t, { ROOMLER__DATABASE__URL: ferret.url, ROOMLER__DATABASE__NAME: name })
  const spawnedAt = Date.now()
  await server.listening(START_MS)
  const listenMs = Date.now() - spawnedAt
  t.pass(`it listens with the database down (${listenMs} ms after spawn)`)
  t.equal((await fetch(`${server.url}/health`)).status, 200, '/health: 200')
  t.match(await getJson(`${server.url}/ready`), { status: 503, body: { status: 'unavailable', dependencies: { database: 'down' } } }, '/ready: 503, database down')

  const connectFrom = Date.now()
  // The users' last choices cannot be read yet: no presence of their own comes with `connected`.
  const adaClient = await connect(t, server.wsUrl, signToken({ sub: ada }), { awaitOwnPresence: false })
  const connectMs = Date.now() - connectFrom
  t.same(withoutOffset(adaClient.received[0]!), { type: 'connected', data: { user_id: ada } }, `a client connects (connected after ${connectMs} ms)`)
  const graceClient = await connect(t, server.wsUrl, signToken({ sub: grace }), { awaitOwnPresence: false })
  // Never a leak (contract section 5): until grace's last choice is read she is offline to others; a choice made now is known.
  adaClient.send({ type: 'presence:update', data: { presence: 'idle' } })
  t.same((await nextPresenceOf(graceClient, ada)).data.presence, 'idle', 'a change reaches the other user')

  await ferret.start()
  const dbStartedAt = Date.now()
  await readyAgain(server.url, CATCH_UP_MS)
  const readyMs = Date.now() - dbStartedAt
  t.same((await adaClient.next((m) => m.type === 'presence:update' && m.data.user_id === grace, CATCH_UP_MS)).data.presence, 'online', 'once the database answers, grace is announced online')
  await userWhere(db, ada, (doc) => doc.presence === 'idle' && doc.chosen_presence === 'idle', 'the choice made while down lands', CATCH_UP_MS)
  await userWhere(db, grace, (doc) => doc.presence === 'online', 'the connection made while down is recorded', CATCH_UP_MS)
  const staleDoc = await userWhere(db, stale, (doc) => doc.presence === 'offline', 'the stale user is recorded offline', CATCH_UP_MS)
  const caughtUpMs = Date.now() - dbStartedAt
  t.ok((staleDoc.last_active_at as Date).getTime() >= spawnedAt, 'with last_active_at set by this server')
  t.pass('everything recorded while the database was down reached it')

  await stopServer(server)
  const figures = { listen_with_database_down_ms: listenMs, connect_with_database_down_ms: connectMs, database_start_to_ready_ms: readyMs, database_start_to_caught_up_ms: caughtUpMs }
  t.comment(JSON.stringify(figures))
  recordFigures('faults-start-database-down', {
    tried: 'the standalone server started with FerretDB stopped, two users connected and changed presence, then FerretDB started',
    held: `it listened (${listenMs} ms), answered /health 200 and /ready 503, connected a client in ${connectMs} ms, and caught up ${caughtUpMs} ms after the database started`,
    figures,
  })
})
