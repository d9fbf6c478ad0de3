/**
 * The plugin's HTTP conventions (issue 14, issue 11 items 10 and 11 and its
 * "Also"): one JSON error shape with WWW-Authenticate and Retry-After, the
 * rate limit, POST /publish never a 500, route groups switched off, /ws
 * readable from another origin, /metrics behind a key or on its own port,
 * the OpenAPI document, and X-Forwarded-For believed only from named proxies.
 */
import t, { type Test } from 'tap'
import { readFile } from 'node:fs/promises'
import Fastify from 'fastify'
import realtime, { type RealtimePluginOptions } from '../../app.js'
import { ISSUER, SECRET, objectId, signToken } from '../helper.js'
import { spawnStandalone } from '../servers/standalone.js'
import { probe } from './probe.js'
import { internalsOf } from '../../plugins/internals.js'

const API_KEY = 'publish-key-0123456789abcdef'

async function host(t: Test, options: RealtimePluginOptions = {}) {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(realtime, { jwt: { secret: SECRET, issuer: ISSUER }, ...options })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` }
}

const publish = (base: string, body: string, headers: Record<string, string> = {}) =>
  probe(base, '/realtime/publish', {
    method: 'POST',
    body,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...headers },
  })

t.test('POST /publish never answers 500: deep data is a 400, an unread Content-Type a 415', async (t) => {
  const { base } = await host(t, { prefix: '/realtime', realtime: { apiKey: API_KEY } })
  const nest = (depth: number) => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1)
  const body = (data: string) => `{"type":"note:new","data":${data},"everyone":true}`

  const ok = await publish(base, body(nest(32)))
  t.equal(ok.status, 202, 'data nested 32 levels is accepted')
  for (const depth of [33, 100_000]) {
    const deep = await publish(base, body(nest(depth)))
    t.equal(deep.status, 400, `data nested ${depth} levels: 400`)
    t.match(JSON.parse(deep.body), { error: 'bad_request', message: /deeper than 32/ })
  }
  const arrays = await publish(base, body(`{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}`))
  t.equal(arrays.status, 400, 'arrays count as levels too')
  const inString = await publish(base, body(`{"text":"${'{'.repeat(1000)}"}`))
  t.equal(inString.status, 202, 'braces inside a string are not levels')

  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x']) {
    const answer = await publish(base, body('{}'), { 'content-type': type })
    t.equal(answer.status, 415, `${type}: 415`)
    t.same(JSON.parse(answer.body), { error: 'unsupported_media_type', message: 'this Content-Type is not read here: send application/json' })
  }
  const broken = await publish(base, '{"type":')
  t.equal(broken.status, 400, 'broken JSON: 400')
  t.equal(JSON.parse(broken.body).error, 'bad_request')
})

t.test('401 carries WWW-Authenticate: Bearer, 429 and 503 carry Retry-After; the rate limit holds', async (t) => {
  const { base } = await host(t, { prefix: '/realtime', realtime: { apiKey: API_KEY, httpRateLimitPerMin: 3 } })
  const presence = await probe(base, `/realtime/presence?user_ids=${objectId()}`)
  t.equal(presence.status, 401)
  t.equal(presence.headers['www-authenticate'], 'Bearer', 'GET /presence without a token')
  const wrongKey = await publish(base, '{}', { authorization: 'Bearer not-the-key' })
  t.equal(wrongKey.headers['www-authenticate'], 'Bearer', 'POST /publish with a wrong key')
  const ws = await probe(base, '/realtime/ws', { upgrade: true })
  t.equal(ws.headers['www-authenticate'], 'Bearer', 'an upgrade without a token')

  const token = signToken({ sub: objectId() })
  const statuses: number[] = []
  let limited
  for (let i = 0; i < 5; i++) {
    const answer = await probe(base, `/realtime/presence?user_ids=${objectId()}`, { headers: { authorization: `Bearer ${token}` } })
    statuses.push(answer.status)
    if (answer.status === 429) limited = answer
  }
  t.same(statuses, [200, 200, 429, 429, 429], 'three a minute (the 401 above counted as one): then 429')
  t.ok(Number(limited!.headers['retry-after']) >= 1, `429 with Retry-After: ${limited!.headers['retry-after']}`)
  t.match(JSON.parse(limited!.body), { error: 'too_many_requests', message: String })
  const publishes = []
  for (let i = 0; i < 4; i++) publishes.push((await publish(base, '{"type":"x","data":{},"everyone":true}')).status)
  t.same(publishes, [202, 202, 429, 429], 'POST /publish has its own count (the wrong key counted as one)')
})

t.test('inside the prefix every answer is the JSON shape, 404 included; route groups switch off', async (t) => {
  const { base } = await host(t, { prefix: '/realtime/', routes: { metrics: false, asyncapi: false, publish: false } })
  for (const path of ['/realtime/nothing-here', '/realtime/metrics', '/realtime/asyncapi.json']) {
    const answer = await probe(base, path)
    t.equal(answer.status, 404, `${path}: 404`)
    t.same(JSON.parse(answer.body), { error: 'not_found', message: 'no such route' }, `${path}: the plugin's 404`)
  }
  t.equal((await probe(base, '/realtime/publish', { method: 'POST' })).status, 404, 'publish switched off')
  t.equal((await probe(base, '/realtime/health')).status, 200, 'health still on')
  t.equal((await probe(base, '/realtime/openapi.json')).status, 200, 'openapi still on')
  const hostsOwn = await probe(base, '/elsewhere')
  t.match(JSON.parse(hostsOwn.body), { statusCode: 404, error: 'Not Found' }, 'outside the prefix the host’s 404 is the host’s')
})

t.test('a page on another origin can read why /ws refused it, and a plain GET /ws answers what an upgrade would', async (t) => {
  const open = await host(t, {})
  const bad = await probe(open.base, '/ws?token=expired', { headers: { origin: 'https://app.example' } })
  t.equal(bad.status, 401, 'a plain GET with a bad token: 401, as an upgrade')
  t.equal(bad.headers['access-control-allow-origin'], 'https://app.example', 'CORS_ORIGINS empty: any origin may read it')
  const good = await probe(open.base, `/ws?token=${signToken({ sub: objectId() })}`, { headers: { origin: 'https://app.example' } })
  t.equal(good.status, 426, 'a plain GET with a good token: 426 Upgrade Required')

  const strict = await host(t, { app: { corsOrigins: ['https://app.example'] } })
  const allowed = await probe(strict.base, '/ws?token=expired', { headers: { origin: 'https://app.example' } })
  t.equal(allowed.status, 401)
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example', 'an allowed origin reads it')
  const other = await probe(strict.base, '/ws?token=expired', { headers: { origin: 'https://evil.example' } })
  t.equal(other.status, 403)
  t.equal(other.headers['access-control-allow-origin'], undefined, 'another origin does not')
})

t.test('/metrics behind a bearer key, or on a listener of its own', async (t) => {
  const key = 'metrics-key-0123456789abcdef'
  const keyed = await host(t, { realtime: { metricsKey: key } })
  const without = await probe(keyed.base, '/metrics')
  t.equal(without.status, 401)
  t.equal(without.headers['www-authenticate'], 'Bearer')
  t.equal((await probe(keyed.base, '/metrics', { headers: { authorization: 'Bearer wrong-key-0123456789' } })).status, 401)
  const withKey = await probe(keyed.base, '/metrics', { headers: { authorization: `Bearer ${key}` } })
  t.equal(withKey.status, 200)
  t.match(withKey.body, /^roomler_connections 0$/m)
  t.match(withKey.body, /^process_cpu_seconds_total /m, 'our own registry carries the process metrics')
  t.match(withKey.body, /^nodejs_eventloop_lag_seconds /m, 'and the Node.js ones')

  const apart = await host(t, { realtime: { metricsPort: 0 } })
  t.equal((await probe(apart.base, '/metrics')).status, 404, 'not on the main port')
  const port = internalsOf(apart.app).realtimeMetricsRegistry.listenerPort
  const own = await probe(`http://127.0.0.1:${port}`, '/metrics')
  t.equal(own.status, 200, 'on its own port')
  t.match(own.body, /^roomler_connections 0$/m)
})

t.test('GET /openapi.json: OpenAPI 3.1 from the routes’ own schemas, prefixed, the same as generated/openapi.json', async (t) => {
  const { base } = await host(t, { prefix: '/realtime' })
  const served = JSON.parse((await probe(base, '/realtime/openapi.json')).body)
  t.equal(served.openapi, '3.1.0')
  t.same(Object.keys(served.paths).sort(), ['/realtime/asyncapi.json', '/realtime/health', '/realtime/metrics', '/realtime/presence', '/realtime/publish', '/realtime/ready'])
  t.match(served.paths['/realtime/publish'].post.requestBody.content['application/json'].schema.properties, { type: {}, data: {}, user_ids: {} })
  t.match(served.paths['/realtime/presence'].get.responses, { 200: {}, 401: {} })
  const root = await host(t, {})
  const generated = JSON.parse(await readFile(new URL('../../generated/openapi.json', import.meta.url), 'utf8'))
  t.same(generated, JSON.parse((await probe(root.base, '/openapi.json')).body), 'generated/openapi.json is current (npm run schemas)')
})

t.test('standalone: X-Forwarded-For is believed only from ROOMLER__APP__TRUSTED_PROXIES', async (t) => {
  for (const [trusted, expected] of [['', '127.0.0.1'], ['127.0.0.1', '203.0.113.9']] as const) {
    const server = await spawnStandalone(t, { env: { ROOMLER__APP__TRUSTED_PROXIES: trusted } })
    await server.listening()
    await probe(server.url, '/health', { headers: { 'x-forwarded-for': '203.0.113.9' } })
    const line = await server.line(/"url":"\/health"/)
    t.equal(JSON.parse(line).req.remoteAddress, expected, `trusted ${JSON.stringify(trusted)}: the client is ${expected}`)
    server.child.kill('SIGTERM')
    await server.exit()
  }
})
