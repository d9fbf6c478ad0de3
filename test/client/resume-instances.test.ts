/**
 * Missed events in the typed client across instances (issue 13, contract
 * sections 7 and 8): two instances over a real redis-server, the one the
 * client is on a spawned standalone process that is SIGKILLed while events
 * are published through the other; the client's `url` function points at
 * the survivor from then on (as a load balancer would), and the client
 * resumes there from its last offset. The application sees every event
 * once, in order, and is told recovered.
 */
import t from 'tap'
import type { Resume } from '../../client/index.js'
import { build, eventually, mongoUrl, objectId, signToken, testDatabase } from '../helper.js'
import { startRedis } from '../servers/redis.js'
import { spawnStandalone } from '../servers/standalone.js'
import { instanceEnv, seedUsers } from '../faults/instance-tools.js'
import { nextChange, nextState, publisher, recordedClient, stateIs, type Notes } from './tools.js'

/** Long for a loaded machine: every wait below is on something that must happen. */
const WAIT = 10_000
/** How long a spawned server may take to listen (tsx compiles on the fly). */
const START_MS = 30_000
const INSTANCE_TTL_MS = 1000

t.test('the instance the client is on is SIGKILLed while events are published: it resumes on the other, each event once, in order', async (t) => {
  const { name, db } = await testDatabase(t, 'client_resume')
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const user = objectId()
  await seedUsers(db, [user])
  const survivor = await build(t, { database: { url: mongoUrl(), name }, redis: { url: redis.url }, realtime: { instanceTtlMs: INSTANCE_TTL_MS } })
  const doomed = await spawnStandalone(t, { env: instanceEnv(redis.url, name, { INSTANCE_TTL_MS }) })
  await doomed.listening(START_MS)

  let target = doomed.wsUrl
  const urls: string[] = []
  const { c, messages } = recordedClient<Notes>(t, {
    url: () => {
      urls.push(target)
      return target
    },
    token: signToken({ sub: user }),
    reconnect: { initialDelayMs: 200, maxDelayMs: 400 },
  })
  const seen: string[] = []
  const resumes: Resume[] = []
  c.on('note:new', ({ data }) => seen.push(data.text))
  c.onResume((resume) => resumes.push(resume))
  await c.connect().ready()

  // Published on the survivor, delivered by the doomed instance: through the shared stream.
  const traffic = publisher((event) => survivor.app.wsDispatcher.sendToUser(user, event), 20)
  t.teardown(traffic.stop)
  await eventually(() => seen.length >= 5, WAIT, 'the first events arrive through the doomed instance')
  const reopened = nextState(c, stateIs('open'), 'open on the survivor', WAIT)
  const told = nextChange<Resume>((l) => c.onResume(l), () => true, 'told what the reconnect recovered', WAIT)
  target = survivor.wsUrl
  doomed.child.kill('SIGKILL')
  const atKill = traffic.texts.length
  await reopened
  const atOpen = traffic.texts.length
  t.ok(atOpen > atKill, `events were published while the client was away (${atOpen - atKill})`)
  t.equal((await told).recovered, true, 'recovered on the other instance')
  t.equal(survivor.app.wsRegistry.senders(user).size, 1, 'the client is on the survivor now')

  await eventually(() => traffic.texts.length >= atOpen + 10, WAIT, 'live events after the resume')
  traffic.stop()
  const last = traffic.texts.at(-1)
  await eventually(() => seen.at(-1) === last, WAIT, `the last event (${last}) delivered`)
  t.same(seen, traffic.texts, 'every event published, once, in order: before the kill, while away, after')
  t.same(resumes.length, 1, 'told once')
  t.equal(urls[0], doomed.wsUrl, 'the url function was asked for the first attempt…')
  t.ok(urls.length >= 2 && urls.slice(1).every((url) => url === survivor.wsUrl), '…and again for each reconnect')
  t.equal(messages.filter((m) => m.type === 'connected').length, 2)
})
