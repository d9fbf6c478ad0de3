/**
 * Missed events in the typed client (issue 13, contract section 8): it keeps
 * the last offset, reconnects with `?since=`, and tells the application
 * through `onResume` whether every missed event follows (`recovered`) or
 * there is a gap to refetch. Real service, real drops: the server
 * terminates the connection while events are published; the server restarts;
 * the history no longer reaches back.
 */
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import realtime, { type RealtimePluginOptions } from '../../app.js'
import type { Resume } from '../../client/index.js'
import { ISSUER, SECRET, build, eventually, objectId, signToken } from '../helper.js'
import { freePort } from '../servers/ports.js'
import { nextChange, nextState, note, publisher, recordedClient, stateIs, type Notes } from './tools.js'

/** Long for a loaded machine: every wait below is on something that must happen. */
const WAIT = 10_000
/** A reconnect 100-200 ms after a drop: long enough that events are published while the client is away. */
const SOON = { initialDelayMs: 200, maxDelayMs: 200 }
/** Never by itself within a test: the test reconnects the client when it wants to. */
const NOT_BY_ITSELF = { initialDelayMs: 600_000, maxDelayMs: 600_000 }

/** A client of `user` that records the note texts it delivered, their offsets, and every resume it was told. */
function notesClient(t: Test, url: string, user: string, reconnect = SOON) {
  const recorded = recordedClient<Notes>(t, { url, token: signToken({ sub: user }), reconnect })
  const seen: string[] = []
  const offsets: string[] = []
  const resumes: Resume[] = []
  recorded.c.on('note:new', (message) => {
    seen.push(message.data.text)
    offsets.push(message.offset!)
  })
  recorded.c.onResume((resume) => resumes.push(resume))
  return { ...recorded, seen, offsets, resumes }
}

const resumed = (c: { onResume(listener: (r: Resume) => void): () => void }, what: string) => nextChange<Resume>((l) => c.onResume(l), () => true, what, WAIT)

async function listenOn(port: number, options: RealtimePluginOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(realtime, { ...options, jwt: { secret: SECRET, issuer: ISSUER } })
  await app.listen({ port, host: '127.0.0.1' })
  return app
}

t.test('the server drops the connection while events are published: the application gets each once, in order, and is told recovered', async (t) => {
  const { app, wsUrl } = await build(t)
  const user = objectId()
  const { c, seen, offsets, resumes, messages } = notesClient(t, wsUrl, user)
  await c.connect().ready()
  t.type(c.offset, 'string', 'connected gave the starting offset')
  t.same(resumes, [], 'a first connect is no resume')

  const traffic = publisher((event) => app.wsDispatcher.sendToUser(user, event))
  t.teardown(traffic.stop)
  await eventually(() => seen.length >= 5, WAIT, 'the first events arrive')
  let offsetAtDrop: string | undefined
  const off = c.onState(({ state }) => {
    if (state === 'reconnecting') offsetAtDrop ??= c.offset
  })
  const reopened = nextState(c, stateIs('open'), 'open again', WAIT)
  const told = resumed(c, 'told what the reconnect recovered')
  for (const connection of app.wsRegistry.senders(user)) connection.socket.terminate()
  const atDrop = traffic.texts.length
  await reopened
  off()
  const atOpen = traffic.texts.length
  t.ok(atOpen > atDrop, `events were published while the client was away (${atOpen - atDrop})`)
  t.same(await told, { recovered: true, since: offsetAtDrop }, 'recovered, from the offset of the last event delivered before the drop')

  await eventually(() => traffic.texts.length >= atOpen + 10, WAIT, 'live events after the resume')
  traffic.stop()
  const last = traffic.texts.at(-1)
  await eventually(() => seen.at(-1) === last, WAIT, `the last event (${last}) delivered`)
  t.same(seen, traffic.texts, 'every event published, once, in order: before the drop, while away, after')
  t.equal(new Set(offsets).size, offsets.length, 'each with its own offset')
  t.equal(c.offset, offsets.at(-1), 'the client stands at the last event')
  t.same(resumes.length, 1, 'told once')
  const connectedAt = messages.findIndex((m, i) => i > 0 && m.type === 'connected')
  t.ok(messages.slice(connectedAt).some((m) => m.type === 'note:new'), 'events after the second connected')
})

t.test('after a restart of the server the history is another one: the application is told a gap, then resumes again', async (t) => {
  const port = await freePort()
  let app = await listenOn(port)
  t.teardown(() => app.close())
  const user = objectId()
  const { c, seen, resumes } = notesClient(t, `ws://127.0.0.1:${port}/ws`, user, { initialDelayMs: 100, maxDelayMs: 300 })
  await c.connect().ready()
  app.wsDispatcher.sendToUser(user, note('before the restart'))
  await eventually(() => seen.length === 1, WAIT, 'an event before the restart')
  const before = c.offset

  const gap = resumed(c, 'told a gap')
  await app.close()
  app = await listenOn(port)
  t.same(await gap, { recovered: false, since: before }, 'recovered: false: refetch')
  t.not(c.offset, before, 'the client goes on from the offset the new history gave')

  app.wsDispatcher.sendToUser(user, note('after the restart'))
  await eventually(() => seen.length === 2, WAIT, 'an event after the restart')
  const recovered = resumed(c, 'told recovered')
  const atDrop = c.offset
  for (const connection of app.wsRegistry.senders(user)) connection.socket.terminate()
  app.wsDispatcher.sendToUser(user, note('while away'))
  t.same(await recovered, { recovered: true, since: atDrop }, 'the next drop recovers again')
  await eventually(() => seen.length === 3, WAIT, 'the missed event replayed')
  t.same(seen, ['before the restart', 'after the restart', 'while away'])
  t.same(resumes.map((r) => r.recovered), [false, true])
})

t.test('more events missed than RECOVERY_EVENTS keeps: a gap, and none of them replayed', async (t) => {
  const { app, wsUrl } = await build(t, { realtime: { recoveryEvents: 3 } })
  const user = objectId()
  const { c, seen } = notesClient(t, wsUrl, user, NOT_BY_ITSELF)
  await c.connect().ready()
  const away = nextState(c, stateIs('reconnecting'), 'dropped', WAIT)
  for (const connection of app.wsRegistry.senders(user)) connection.socket.terminate()
  await away
  for (let i = 0; i < 5; i++) app.wsDispatcher.sendToUser(user, note(`missed ${i}`))

  const gap = resumed(c, 'told a gap')
  c.reconnect()
  t.same((await gap).recovered, false, 'five missed, three kept: recovered: false')
  app.wsDispatcher.sendToUser(user, note('live'))
  await eventually(() => seen.length > 0, WAIT, 'the live event')
  t.same(seen, ['live'], 'nothing replayed; live events follow')
})

t.test('the `since` option resumes a new client from an offset saved earlier', async (t) => {
  const { app, wsUrl } = await build(t)
  const user = objectId()
  const first = notesClient(t, wsUrl, user)
  await first.c.connect().ready()
  app.wsDispatcher.sendToUser(user, note('seen by the old page'))
  await eventually(() => first.seen.length === 1, WAIT, 'the old page saw it')
  const saved = first.c.offset!
  first.c.close()
  app.wsDispatcher.sendToUser(user, note('while no page was open'))

  const recorded = recordedClient<Notes>(t, { url: wsUrl, token: signToken({ sub: user }), since: saved })
  const seen: string[] = []
  recorded.c.on('note:new', ({ data }) => seen.push(data.text))
  const told = resumed(recorded.c, 'told what the first connect recovered')
  recorded.c.connect()
  t.same(await told, { recovered: true, since: saved }, 'the first connect resumed from the saved offset')
  await eventually(() => seen.length === 1, WAIT, 'the missed event')
  t.same(seen, ['while no page was open'])

  // connect() after close() resumes from where the closed client stood.
  const again = resumed(first.c, 'the closed client, connected again')
  first.c.connect()
  t.same(await again, { recovered: true, since: saved }, 'resumed from its own last offset')
  await eventually(() => first.seen.length === 2, WAIT, 'the event it missed while closed')
  t.same(first.seen, ['seen by the old page', 'while no page was open'])
})
