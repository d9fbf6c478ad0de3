/**
 * Embedding (contract section 8): a host Fastify API registers the plugin
 * beside its own routes, signs tokens with its own @fastify/jwt, and pushes
 * events through `app.wsDispatcher`; the connection registry is `app.wsRegistry`.
 * Everything here is typed: no casts to `any`.
 */
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyMongo from '@fastify/mongodb'
import realtime, { type RealtimePluginOptions } from '../app.js'
import type { Connection } from '../lib/connections/connection.js'
import type { Dispatcher, OutgoingMessage } from '../lib/delivery/dispatcher.js'
import { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'
import type { ConnectionRegistry } from '../lib/connections/registry.js'
import { ISSUER, SECRET, connect, signToken, eventually, objectId, testDatabase, withoutOffset, type TestClient } from './helper.js'
import { addMembers } from './fixtures/roomler2.js'
import { internalsOf } from '../plugins/internals.js'

interface Host {
  app: FastifyInstance
  url: string
  wsUrl: string
  /** A token the host signs with its own @fastify/jwt, as Roomler2's API does. */
  sign(userId: string): string
  connect(userId: string): Promise<TestClient>
}

/** A host API with its own route and its own @fastify/jwt, then the realtime plugin. */
async function host(t: Test, options: RealtimePluginOptions = {}): Promise<Host> {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(fastifyJwt, { secret: SECRET })
  app.get('/api/hello', async () => ({ hello: 'from the host' }))
  await app.register(realtime, { jwt: { secret: SECRET, issuer: ISSUER }, ...options })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const url = `http://127.0.0.1:${port}`
  const wsUrl = `ws://127.0.0.1:${port}/ws`
  const sign = (userId: string) => signToken({ sub: userId, email: `${userId}@example.test`, username: 'someone' })
  return { app, url, wsUrl, sign, connect: (userId) => connect(t, wsUrl, sign(userId)) }
}

/** The events of `type` each client got, after a round trip proves nothing else is on its way. */
async function receivedOf(clients: TestClient[], type: string): Promise<OutgoingMessage[][]> {
  return Promise.all(clients.map(async (client) => (await client.sync()).filter((m) => m.type === type)))
}

t.test('the host’s own routes keep working beside the plugin', async (t) => {
  const { url } = await host(t)
  const answer = await fetch(`${url}/api/hello`)
  t.equal(answer.status, 200)
  t.same(await answer.json(), { hello: 'from the host' })
  t.equal((await fetch(`${url}/health`)).status, 200, 'and the plugin’s routes are there too')
})

t.test('a token the host signs connects, and sendToUser reaches every connection of that user', async (t) => {
  const h = await host(t)
  const [ada, grace] = [objectId(), objectId()]
  const adaTab = await h.connect(ada)
  t.same(withoutOffset(adaTab.received[0]!), { type: 'connected', data: { user_id: ada } })
  const adaPhone = await h.connect(ada)
  const graceClient = await h.connect(grace)

  const dispatcher: Dispatcher = h.app.wsDispatcher
  const message: OutgoingMessage = {
    type: 'message:new',
    data: { channel_id: objectId(), message_id: objectId(), author_id: grace, text: 'hello, Ada' },
  }
  dispatcher.sendToUser(ada, message)
  t.same(withoutOffset(await adaTab.next('message:new')), message)
  t.same(withoutOffset(await adaPhone.next('message:new')), message)
  t.same(await receivedOf([graceClient], 'message:new'), [[]], 'nobody else gets it')
})

t.test('broadcast, toEveryone and sendToChannel reach exactly the right users', async (t) => {
  const membership = new MemoryMembershipStore()
  const h = await host(t, { stores: { membership } })
  const [a, b, c, d] = [objectId(), objectId(), objectId(), objectId()]
  const clients = [await h.connect(a), await h.connect(b), await h.connect(c), await h.connect(d)]
  const got = async (type: string) => (await receivedOf(clients, type)).map((messages) => messages.length)

  h.app.wsDispatcher.broadcast([a, b], { type: 'thread:update', data: { n: 1 } }, { exclude: [b] })
  t.same(await got('thread:update'), [1, 0, 0, 0], 'broadcast to a and b, b left out: only a')

  h.app.wsDispatcher.broadcast([a, c, objectId()], { type: 'thread:update', data: { n: 2 } })
  t.same(await got('thread:update'), [1, 0, 1, 0], 'broadcast to a and c (and someone offline)')

  h.app.wsDispatcher.toEveryone({ type: 'announcement', data: { text: 'maintenance at noon' } })
  t.same(await got('announcement'), [1, 1, 1, 1], 'toEveryone: every connected user')

  h.app.wsDispatcher.toEveryone({ type: 'announcement', data: { text: 'not for d' } }, { exclude: [d] })
  t.same(await got('announcement'), [1, 1, 1, 0], 'toEveryone, d left out')

  const channel = objectId()
  for (const member of [a, b, c]) membership.addMember(channel, member)
  const event: OutgoingMessage = { type: 'message:new', data: { channel_id: channel, text: 'hi all' } }
  await h.app.wsDispatcher.sendToChannel(channel, event, { exclude: [b] })
  const perClient = await receivedOf(clients, 'message:new')
  t.same(perClient.map((messages) => messages.map(withoutOffset)), [[event], [], [event], []], 'sendToChannel: members a and c; b excluded; d is no member')

  // A member added later is reached once the host drops the channel from the cache.
  membership.addMember(channel, d)
  h.app.wsDispatcher.dropChannel(channel)
  await h.app.wsDispatcher.sendToChannel(channel, event)
  t.same(await got('message:new'), [1, 1, 1, 1], 'after dropChannel the new member is reached')
})

t.test('wsRegistry adds and removes connections by identity', async (t) => {
  const h = await host(t)
  const registry: ConnectionRegistry = h.app.wsRegistry
  const [ada, grace] = [objectId(), objectId()]
  const adaTab = await h.connect(ada)
  const adaPhone = await h.connect(ada)
  const graceClient = await h.connect(grace)

  t.equal(registry.connectionCount, 3)
  t.same([...registry.userIds()].sort(), [ada, grace].sort())
  t.equal(registry.senders(ada).size, 2)
  t.equal(registry.senders(objectId()).size, 0, 'an unknown user has no senders')
  const all: Connection[] = [...registry.connections()]
  t.equal(all.length, 3)

  const [first, second] = [...registry.senders(ada)]
  t.ok(first && second)
  const removed: Connection = first!
  t.equal(registry.remove(removed), 1, 'removing one connection leaves the other')
  t.equal(registry.remove(removed), 1, 'removing it again changes nothing')
  t.equal(registry.connectionCount, 2)
  t.ok(registry.senders(ada).has(second!), 'the other connection is still registered')

  // The registry is what delivery reads: the removed connection no longer gets pushes.
  const ping: OutgoingMessage = { type: 'notification', data: { n: 1 } }
  h.app.wsDispatcher.sendToUser(ada, ping)
  const [tabGot, phoneGot] = await receivedOf([adaTab, adaPhone], 'notification')
  t.equal(tabGot!.length + phoneGot!.length, 1, 'only the registered connection received it')

  t.equal(registry.add(removed), 2, 'added back')
  t.equal(registry.add(removed), 2, 'adding the same connection twice counts it once')
  t.equal(registry.connectionCount, 3)
  h.app.wsDispatcher.sendToUser(ada, ping)
  t.same(
    (await receivedOf([adaTab, adaPhone], 'notification')).map((m) => m.length),
    [1, 1],
    'both connections receive again',
  )

  await graceClient.close()
  await eventually(() => !registry.has(grace), undefined, 'grace is out of the registry')
  t.same([...registry.userIds()], [ada], 'a user whose last connection closed is no longer listed')
  t.equal(registry.connectionCount, 2)
})

t.test('a host that registered @fastify/mongodb gets its client reused', async (t) => {
  const { name, db, url } = await testDatabase(t, 'embed_host_mongo')
  const channel = objectId()
  const [ada, grace] = [objectId(), objectId()]
  await addMembers(db, channel, [ada], 'owner')
  await addMembers(db, channel, [grace])

  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(fastifyMongo, { url, forceClose: true })
  const hostClient = app.mongo.client
  // No database URL: the plugin is to use the host's client, with the configured database name.
  await app.register(realtime, { jwt: { secret: SECRET }, database: { name } })
  await app.ready()

  t.equal(internalsOf(app).realtimeStores.kind, 'mongodb')
  t.equal(app.mongo.client, hostClient, 'no second client replaced the host’s')
  t.same((await internalsOf(app).realtimeStores.membership.channelMembers(channel)).sort(), [ada, grace].sort(), `reads ${name}`)
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json(), { dependencies: { database: 'ok' } })
})

t.test('a bad option makes register reject, naming the option', async (t) => {
  for (const maxPayloadBytes of [-1, 'abc'] as const) {
    const app = Fastify({ logger: false })
    t.teardown(() => app.close())
    const options: RealtimePluginOptions = {
      jwt: { secret: SECRET },
      realtime: { maxPayloadBytes: maxPayloadBytes as unknown as number },
    }
    await t.rejects(
      async () => {
        await app.register(realtime, options)
        await app.ready()
      },
      { message: /realtime\.maxPayloadBytes/ },
      `maxPayloadBytes ${JSON.stringify(maxPayloadBytes)}`,
    )
  }
})
