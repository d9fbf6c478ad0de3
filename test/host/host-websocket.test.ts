/**
 * A host that registered its own @fastify/websocket first (issue 11 item 2,
 * issue 14): MAX_PAYLOAD_BYTES still closes an oversized frame with 1009,
 * and the host's close sends 1001 (not its bare 1005) to the plugin's
 * clients, with the users recorded offline in the database before it closes.
 */
import t from 'tap'
import Fastify from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import { ObjectId } from 'mongodb'
import realtime from '../../app.js'
import { ISSUER, SECRET, connect, objectId, signToken, testDatabase } from '../helper.js'

t.test('the host’s @fastify/websocket first: 1009 past MAX_PAYLOAD_BYTES, 1001 at close, presence recorded', async (t) => {
  const { db, url, name } = await testDatabase(t, 'host_ws')
  const [ada, grace] = [objectId(), objectId()]
  await db.collection('users').insertMany([{ _id: new ObjectId(ada), presence: 'offline' }, { _id: new ObjectId(grace), presence: 'offline' }])

  const app = Fastify({ logger: false })
  await app.register(fastifyWebsocket) // ws's default maxPayload: 100 MiB
  await app.register(realtime, { prefix: '/realtime', jwt: { secret: SECRET, issuer: ISSUER }, database: { url, name }, realtime: { maxPayloadBytes: 16384 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const wsUrl = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/realtime/ws`

  const big = await connect(t, wsUrl, signToken({ sub: objectId() }))
  big.send('x'.repeat(8 * 1024 * 1024))
  t.equal((await big.closed).code, 1009, 'an 8 MiB frame closes with 1009')
  // The same route spelled another way (find-my-way decodes the path): the limit is the socket's, not the URL's.
  const spelled = await connect(t, wsUrl.replace(/\/ws$/, '/%77s'), signToken({ sub: objectId() }))
  spelled.send('x'.repeat(200 * 1024))
  t.equal((await spelled.closed).code, 1009, 'a 200 KB frame on /realtime/%77s closes with 1009 too')

  const adaClient = await connect(t, wsUrl, signToken({ sub: ada }))
  const graceClient = await connect(t, wsUrl, signToken({ sub: grace }))
  const online = async () => (await db.collection('users').find({ presence: 'online' }).toArray()).length
  for (let i = 0; i < 100 && (await online()) < 2; i++) await new Promise((r) => setTimeout(r, 50))
  t.equal(await online(), 2, 'both recorded online')

  await app.close()
  t.equal((await adaClient.closed).code, 1001, 'ada gets 1001')
  t.equal((await graceClient.closed).code, 1001, 'grace gets 1001')
  const users = await db.collection('users').find({ _id: { $in: [new ObjectId(ada), new ObjectId(grace)] } }).toArray()
  t.same(users.map((user) => user.presence), ['offline', 'offline'], 'both recorded offline once close resolved')
})

t.test('the host’s @fastify/websocket with permessage-deflate: the inflater holds MAX_PAYLOAD_BYTES too', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(fastifyWebsocket, { options: { perMessageDeflate: true } }) // ws's default maxPayload: 100 MiB
  await app.register(realtime, { prefix: '/realtime', jwt: { secret: SECRET, issuer: ISSUER }, realtime: { maxPayloadBytes: 16384 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const wsUrl = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/realtime/ws`
  const user = objectId()
  await connect(t, wsUrl, signToken({ sub: user }))
  const [connection] = [...app.wsRegistry.senders(user)]
  const deflate = (connection!.socket as unknown as { _extensions: Record<string, { _maxPayload: number } | undefined> })._extensions['permessage-deflate']
  t.ok(deflate, 'the connection negotiated permessage-deflate')
  // The inflater stops at the limit as it inflates, rather than inflating 100 MiB before the receiver looks.
  t.equal(deflate!._maxPayload, 16384, 'its inflater stops at MAX_PAYLOAD_BYTES')
})
