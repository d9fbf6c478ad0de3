/**
 * Issue 11, item 4 (contract sections 3 and 4): control frames never wait
 * behind typing that waits on the database, typing fails fast once a
 * membership read failed or timed out (until one succeeds again), and a
 * connection's frames waiting to be handled are bounded. The fault is real:
 * the test's own FerretDB stopped with SIGSTOP, resumed with SIGCONT.
 */
import t, { type Test } from 'tap'
import { build, connect, eventually, objectId, WAIT_MS, type BuildOptions, type ServerMessage } from '../helper.js'
import { recordFigures } from '../reliability/record.js'
import { addMembers, databaseClient, pausableDatabase, seedUsers } from './tools.js'

/** A reply that waited on the database would take at least the membership read timeout (2 s). */
const AT_ONCE_MS = 1000

async function setup(t: Test, realtime: BuildOptions['realtime'] = {}) {
  const database = await pausableDatabase(t)
  const name = `faults_control_${objectId().slice(-8)}`
  const db = await databaseClient(t, database.url, name)
  const built = await build(t, { database: { url: database.url, name }, realtime: { heartbeatMs: 200, ...realtime } })
  return { database, db, ...built }
}

const start = (channelId: string) => ({ type: 'typing:start', data: { channel_id: channelId } })
const isError = (code: string) => (m: ServerMessage) => m.type === 'error' && m.data.code === code

t.test('ping and auth:refresh are answered at once while typing waits on a stopped database', async (t) => {
  const { database, db, wsUrl, token, app } = await setup(t)
  const user = objectId()
  await seedUsers(db, [user])
  // A token that runs out soon: only the refresh keeps the connection.
  const expiresAt = Math.floor(Date.now() / 1000) + 4
  const client = await connect(t, wsUrl, token(user, { exp: expiresAt }))

  await database.pause()
  for (let i = 0; i < 3; i++) client.send(start(objectId()))
  client.send({ type: 'auth:refresh', data: { token: token(user) } })
  const sentAt = Date.now()
  client.send({ type: 'ping' })
  const first = await client.next((m) => m.type !== 'presence:update')
  const answeredAfter = Date.now() - sentAt
  t.equal(first.type, 'pong', 'the ping is answered before any of the typing')
  t.ok(answeredAfter < AT_ONCE_MS, `at once (${answeredAfter} ms)`)
  // Past the first token's expiry (and a few liveness sweeps): the refresh counted.
  while (Date.now() < expiresAt * 1000 + 500) {
    await client.sync()
    await new Promise((r) => setTimeout(r, 200))
  }
  t.equal(client.closeCode, undefined, 'not closed with 4001: the refresh was handled in time')
  const refused = () => client.received.filter((m) => isError('unavailable')(m) && m.data.request_type === 'typing:start').length
  await eventually(() => refused() === 3, WAIT_MS, 'each typing:start gets unavailable')
  database.resume()
  t.equal(app.wsRegistry.connectionCount, 1)
})

t.test('typing fails fast once a membership read timed out, and works again once one succeeds', async (t) => {
  const { database, db, connect } = await setup(t)
  const [typist, member] = [objectId(), objectId()]
  const channel = objectId()
  await seedUsers(db, [typist, member])
  await addMembers(db, channel, [typist, member])
  const a = await connect(typist)
  const b = await connect(member)

  await database.pause()
  const pausedAt = Date.now()
  a.send(start(objectId()))
  await a.next(isError('unavailable'))
  const firstFailureMs = Date.now() - pausedAt
  const sentAt = Date.now()
  a.send(start(channel))
  t.equal((await a.next(isError('unavailable'))).data.request_type, 'typing:start')
  const fastFailureMs = Date.now() - sentAt
  t.ok(fastFailureMs < AT_ONCE_MS, `the next typing is refused without waiting on the database (${fastFailureMs} ms)`)

  database.resume()
  const resumedAt = Date.now()
  // A client retries; the refused requests themselves find out that the database is back.
  let heard: ServerMessage | undefined
  while (!heard && Date.now() - resumedAt < WAIT_MS * 2) {
    a.send(start(channel))
    heard = await b.next('typing:start', 300).catch(() => undefined)
  }
  t.ok(heard, 'typing reaches the other member again once a read succeeded')
  recordFigures('faults-membership-down', {
    tried: 'FerretDB stopped with SIGSTOP while a member types, then resumed with SIGCONT',
    held: 'ping and auth:refresh answered at once; typing refused with unavailable at once after the first timed-out read; typing delivered again after the resume',
    figures: {
      first_unavailable_ms: firstFailureMs,
      next_unavailable_ms: fastFailureMs,
      typing_again_after_resume_ms: Date.now() - resumedAt,
    },
  })
})

t.test('frames waiting to be handled are bounded: past the bound, rate_limited', async (t) => {
  const { database, db, connect } = await setup(t, { rateLimitPerSec: 10_000, rateLimitBurst: 10_000, typingRatePerSec: 10_000 })
  const user = objectId()
  await seedUsers(db, [user])
  const client = await connect(user)
  await database.pause()
  const sent = 300
  const channel = objectId()
  for (let i = 0; i < sent; i++) client.send(start(channel))
  const answers: ServerMessage[] = []
  while (answers.length < sent) answers.push(await client.next('error', WAIT_MS))
  const limited = answers.filter(isError('rate_limited')).length
  t.ok(limited > 0, `${limited} of ${sent} frames were refused with rate_limited rather than queued`)
  t.equal(answers.filter(isError('unavailable')).length, sent - limited, 'the rest got unavailable')
  t.same(await client.sync(), [], 'each frame got exactly one answer')
  database.resume()
})
