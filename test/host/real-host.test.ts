/**
 * Issue 14's host application (test/host/real-host-app.ts): a Fastify API
 * with its own @fastify/jwt, @fastify/websocket, fastify-metrics,
 * @fastify/swagger, @fastify/rate-limit, decorator, hook, error and 404
 * handlers and routes, then roomler-realtime under '/realtime'. What its team
 * would notice: registration collides with nothing, both apps' routes answer,
 * the host's handlers keep the host's answers outside the prefix, a token its
 * jwt signed works on /realtime/ws (connect, typing, presence, publish,
 * limits), its Swagger document lists the plugin's HTTP routes, and its close
 * sends our clients 1001. Its /metrics: real-host-metrics.test.ts.
 */
import t from 'tap'
import { WebSocket } from 'ws'
import { OTHER_SECRET, objectId, refusal, signToken, withoutOffset } from '../helper.js'
import { probe } from './probe.js'
import { HOST_RATE_LIMIT, PUBLISH_KEY, REALTIME_RATE_LIMIT, realHost } from './real-host-app.js'

const json = (body: string) => JSON.parse(body)

t.test('registered after the host’s plugins: no collision, both apps’ routes answer, the host’s decorators stay the host’s', async (t) => {
  const { app, base, sign } = await realHost(t)

  const health = await probe(base, '/health')
  t.same([health.status, json(health.body)], [200, { host: 'healthy' }], 'GET /health is the host’s own')
  const ours = await probe(base, '/realtime/health')
  t.same([ours.status, json(ours.body)], [200, { status: 'ok' }], 'GET /realtime/health is the plugin’s')
  const items = await probe(base, '/api/items')
  t.same(json(items.body), [{ id: 1 }, { id: 2 }], 'the host’s REST route')
  t.equal(items.headers['x-host-api'], 'yes', 'the host’s onSend hook still runs on its routes')
  const created = await probe(base, '/api/items', { method: 'POST', body: '{"name":"a"}', headers: { 'content-type': 'application/json' } })
  t.same([created.status, json(created.body)], [201, { name: 'a' }], 'the host’s validated POST')

  // The host's jwt is its own: it signs with the host's secret, and the host's guard reads its claims.
  const userId = objectId()
  const token = sign(userId)
  t.equal((app.jwt.verify(token) as { sub: string }).sub, userId, 'app.jwt verifies what it signed')
  const me = await probe(base, '/api/me', { headers: { authorization: `Bearer ${token}` } })
  t.equal(me.status, 200, 'the host’s authenticate decorator and request.jwtVerify work')
  t.equal(json(me.body).sub, userId)
  t.equal((await probe(base, '/api/me', { headers: { authorization: `Bearer ${signToken({ sub: userId }, OTHER_SECRET)}` } })).status, 401)

  const document = app.swagger() as { info: { title: string } }
  t.equal(document.info.title, 'Host API', 'app.swagger() is the host’s document, not the plugin’s')
  t.equal(typeof app.metrics.client.register.metrics, 'function', 'app.metrics is fastify-metrics’')
  t.equal(typeof app.rateLimit, 'function', 'the host’s @fastify/rate-limit is still there')
})

t.test('outside /realtime the host’s error handler and 404 answer; inside it, the plugin’s one JSON shape', async (t) => {
  const { base } = await realHost(t)
  for (const path of ['/api/nope', '/nowhere', '/realtimeish', '/ws']) {
    const answer = await probe(base, path)
    t.same([answer.status, json(answer.body)], [404, { hostError: true, status: 404, detail: 'no GET here' }], `${path}: the host’s 404`)
  }
  const boom = await probe(base, '/api/boom')
  t.same([boom.status, json(boom.body)], [500, { hostError: true, status: 500, detail: 'the host’s own failure' }], 'a host route that throws: the host’s error handler')
  const invalid = await probe(base, '/api/items', { method: 'POST', body: '{"nope":1}', headers: { 'content-type': 'application/json' } })
  t.equal(invalid.status, 400)
  t.match(json(invalid.body), { hostError: true, status: 400, detail: /name/ }, 'the host’s validation error through the host’s handler')

  const missing = await probe(base, '/realtime/nope')
  t.same([missing.status, json(missing.body)], [404, { error: 'not_found', message: 'no such route' }], 'inside the prefix: the plugin’s 404')
  const noToken = await probe(base, `/realtime/presence?user_ids=${objectId()}`)
  t.same([noToken.status, noToken.headers['www-authenticate']], [401, 'Bearer'])
  t.match(json(noToken.body), { error: String, message: String })
  const badBody = await probe(base, '/realtime/publish', {
    method: 'POST',
    body: '{"type":"note:new"}',
    headers: { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' },
  })
  t.equal(badBody.status, 400)
  t.match(json(badBody.body), { error: 'bad_request', message: String }, 'a bad /publish body: the plugin’s shape, not the host’s handler')
  t.notOk('hostError' in json(badBody.body))
})

t.test('the host’s global rate limit counts its routes; /presence and /publish keep the plugin’s own limit', async (t) => {
  const { base, sign } = await realHost(t)
  const items = await probe(base, '/api/items')
  t.equal(items.headers['x-ratelimit-limit'], String(HOST_RATE_LIMIT), 'the host’s limit on its own route')
  const presence = await probe(base, `/realtime/presence?user_ids=${objectId()}`, { headers: { authorization: `Bearer ${sign(objectId())}` } })
  t.equal(presence.status, 200)
  t.equal(presence.headers['x-ratelimit-limit'], String(REALTIME_RATE_LIMIT), 'HTTP_RATE_LIMIT_PER_MIN on /realtime/presence, through the host’s @fastify/rate-limit')
})

t.test('a token the host’s jwt signed connects at /realtime/ws: typing, presence, publish and limits under the prefix', async (t) => {
  const { app, base, wsBase, sign, connect, membership, logs } = await realHost(t)
  const [ada, grace, channel] = [objectId(), objectId(), objectId()]
  membership.addMember(channel, ada)
  membership.addMember(channel, grace)
  const adaClient = await connect(ada)
  t.same(withoutOffset(adaClient.received[0]!), { type: 'connected', data: { user_id: ada } })
  const graceClient = await connect(grace)

  adaClient.send({ type: 'typing:start', data: { channel_id: channel } })
  t.same(await graceClient.next('typing:start'), { type: 'typing:start', data: { channel_id: channel, user_id: ada } }, 'typing reaches the other member')

  const presence = await probe(base, `/realtime/presence?user_ids=${ada},${grace}`, { headers: { authorization: `Bearer ${sign(grace)}` } })
  t.equal(presence.status, 200)
  t.match(json(presence.body).presences, { [ada]: 'online', [grace]: 'online' }, 'GET /realtime/presence with the host’s token')

  const published = await probe(base, '/realtime/publish', {
    method: 'POST',
    body: JSON.stringify({ type: 'note:new', data: { text: 'through /realtime/publish' }, user_ids: [grace] }),
    headers: { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' },
  })
  t.equal(published.status, 202)
  t.same(withoutOffset(await graceClient.next('note:new')), { type: 'note:new', data: { text: 'through /realtime/publish' } })
  app.wsDispatcher.sendToUser(ada, { type: 'note:new', data: { text: 'from a host route' } })
  t.same(withoutOffset(await adaClient.next('note:new')), { type: 'note:new', data: { text: 'from a host route' } }, 'app.wsDispatcher from the host')

  const big = await connect(objectId())
  big.send('x'.repeat(64 * 1024))
  t.equal((await big.closed).code, 1009, 'MAX_PAYLOAD_BYTES (16 KiB) under the host’s @fastify/websocket: 1009')
  const forged = signToken({ sub: ada }, OTHER_SECRET)
  t.equal((await refusal(`${wsBase}/realtime/ws?token=${encodeURIComponent(forged)}`)).status, 401, 'a token the host’s secret did not sign is refused')
  t.ok(logs.some((line) => line.includes('/realtime/ws')), 'the host logged the upgrades')
  t.same(logs.filter((line) => /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(line)), [], 'the host’s plain logger wrote no token of /realtime/ws')
  // (The host's own 404 at the root logs its URL as the host's logger does: that request is not the plugin's.)
  t.equal((await refusal(`${wsBase}/ws?token=${encodeURIComponent(forged)}`)).status, 404, 'nothing of ours at the root /ws')
})

t.test('the host’s own WebSocket route is the host’s: not refused, not held to the plugin’s payload limit', async (t) => {
  const { wsBase } = await realHost(t)
  const socket = new WebSocket(`${wsBase}/api/live`)
  t.teardown(() => socket.terminate())
  const messages: string[] = []
  const arrived = (count: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${JSON.stringify(messages.map((m) => m.slice(0, 40)))} within 5 s`)), 5000)
      const look = () => messages.length >= count && (clearTimeout(timer), socket.off('message', look), resolve())
      socket.on('message', look)
      look()
    })
  socket.on('message', (data) => messages.push(data.toString()))
  socket.once('error', (error) => t.fail(`the host’s socket failed: ${error.message}`))
  await arrived(1)
  t.equal(messages[0], 'host live', 'the upgrade on the host’s route was accepted by the host')
  const large = 'y'.repeat(200 * 1024)
  socket.send(large)
  await arrived(2)
  t.equal(messages[1], `host echo: ${large}`, 'a 200 KiB frame, over the plugin’s 16 KiB, passes on the host’s socket')
})

t.test('the host’s Swagger document lists the plugin’s HTTP routes; /realtime/openapi.json lists only the plugin’s', async (t) => {
  const { app, base } = await realHost(t)
  const hostPaths = Object.keys((app.swagger() as { paths: Record<string, unknown> }).paths).sort()
  for (const path of ['/api/items', '/health', '/realtime/health', '/realtime/ready', '/realtime/presence', '/realtime/publish', '/realtime/asyncapi.json']) {
    t.ok(hostPaths.includes(path), `the host’s document has ${path}`)
  }
  for (const path of ['/realtime/openapi.json', '/realtime/metrics']) {
    t.notOk(hostPaths.includes(path), `and not ${path}`)
  }
  const hostDoc = app.swagger() as { paths: Record<string, any> }
  t.match(hostDoc.paths['/realtime/publish'].post.requestBody.content['application/json'].schema.properties, { type: {}, data: {}, user_ids: {} }, 'from the plugin’s TypeBox schemas')

  const ours = json((await probe(base, '/realtime/openapi.json')).body)
  t.equal(ours.info.title, 'Roomler Realtime HTTP API')
  t.same(Object.keys(ours.paths).sort(), ['/realtime/asyncapi.json', '/realtime/health', '/realtime/presence', '/realtime/publish', '/realtime/ready'], 'only the plugin’s routes, /metrics off as the host serves it')
})

t.test('the host’s close: the plugin’s clients get 1001, close resolves, nothing is logged as an error', async (t) => {
  const { app, base, connect, logs } = await realHost(t)
  const clients = await Promise.all([objectId(), objectId(), objectId()].map(connect))
  t.equal((await probe(base, '/realtime/health')).status, 200)
  const closing = app.close()
  const codes = await Promise.all(clients.map(async (client) => (await client.closed).code))
  t.same(codes, [1001, 1001, 1001], 'every client: 1001 going away')
  await t.resolves(
    Promise.race([closing, new Promise((_, reject) => setTimeout(() => reject(new Error('close took over 10 s')), 10_000))]),
    'app.close() resolves',
  )
  t.same(logs.filter((line) => json(line).level >= 50), [], 'no error or fatal line')
})
