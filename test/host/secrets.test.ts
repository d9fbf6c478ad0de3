/**
 * No token in any log line or response body, on any path (contract section
 * 2, issue 11 item 1): the standalone server with its own logger, and a host
 * whose logger is Fastify's plain one (no serializers of ours), the plugin
 * under a prefix. Every variant is sent, then the whole captured log is
 * scanned. Also the token in `Authorization: Bearer` on /ws.
 */
import t from 'tap'
import Fastify from 'fastify'
import realtime from '../../app.js'
import { DEV_JWT_SECRET } from '../../schemas/config.js'
import { ISSUER, SECRET, connect, objectId, signToken } from '../helper.js'
import { spawnStandalone } from '../servers/standalone.js'
import { capture, percentDecoded, probe, tokenVariants, unsigned } from './probe.js'

/** What of a token would betray it: the whole, its signature alone, or its header and payload; raw or percent-encoded. */
function leaks(text: string, token: string): boolean {
  return [text, percentDecoded(text)].some((form) => form.includes(token) || form.includes(token.split('.')[2]!) || form.includes(unsigned(token)))
}

t.test('a plain-logger host, the plugin under /realtime: no variant logs or echoes the token', async (t) => {
  const { stream, lines } = capture()
  const app = Fastify({ logger: { level: 'trace', stream } })
  t.teardown(() => app.close())
  await app.register(realtime, { prefix: '/realtime', jwt: { secret: SECRET, issuer: ISSUER } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const token = signToken({ sub: objectId() })

  for (const variant of tokenVariants('/realtime', token)) {
    const answer = await probe(base, variant.path, variant.options)
    t.equal(answer.status, variant.status, `${variant.what}: ${variant.status}`)
    t.notOk(leaks(answer.body, token), `${variant.what}: the body does not repeat the token`)
    if (answer.status >= 400) t.match(JSON.parse(answer.body), { error: String, message: String }, `${variant.what}: the JSON error shape`)
  }
  // And the admitted ways: a query token, a header token, both the same.
  const wsUrl = `${base.replace('http', 'ws')}/realtime/ws`
  await connect(t, wsUrl, token)
  const viaHeader = await probe(base, '/realtime/ws', { upgrade: true, headers: { authorization: `Bearer ${token}` } })
  t.equal(viaHeader.status, 101, 'Authorization: Bearer <token> on /ws upgrades')
  const both = await probe(base, `/realtime/ws?token=${token}`, { upgrade: true, headers: { authorization: `Bearer ${token}` } })
  t.equal(both.status, 101, 'the same token in both places upgrades')

  const plain = '/realtime/health?probe=1&since=a.b.c'
  await probe(base, plain)
  t.ok(lines.some((line) => line.includes(`"url":"${plain}"`)), 'a URL without a token is logged as it came')

  t.ok(lines.length > 20, `the log was captured (${lines.length} lines)`)
  t.same(lines.filter((line) => leaks(line, token)), [], 'no log line holds the token')
  t.ok(lines.some((line) => line.includes('[REDACTED]')), 'the request lines show where the token was')
})

t.test('the standalone server: no variant logs or echoes the token; unknown routes get its JSON 404', async (t) => {
  const server = await spawnStandalone(t, { env: { LOG_LEVEL: 'trace' } })
  await server.listening()
  const token = signToken({ sub: objectId() }, DEV_JWT_SECRET)
  for (const variant of tokenVariants('', token)) {
    const answer = await probe(server.url, variant.path, variant.options)
    t.equal(answer.status, variant.status, `${variant.what}: ${variant.status}`)
    t.notOk(leaks(answer.body, token), `${variant.what}: the body does not repeat the token`)
  }
  const badUrl = await probe(server.url, `/ws/${token}%zz`)
  t.equal(badUrl.status, 400, 'a URL the router cannot read: 400')
  t.notOk(leaks(badUrl.body, token), 'its body does not repeat the token in the path')
  t.match(JSON.parse(badUrl.body), { error: 'bad_request', message: String }, 'in the JSON error shape')
  const unknown = await probe(server.url, `/no/such/route?token=${token}`)
  t.same(JSON.parse(unknown.body), { error: 'not_found', message: 'no such route' }, 'the service’s own 404, without the URL')
  const upgradeOnDemo = await probe(server.url, `/?token=${token}`, { upgrade: true })
  t.equal(upgradeOnDemo.status, 404, 'an upgrade on a route that is not the plugin’s (the demo page) is refused too')

  await connect(t, server.wsUrl, token)
  server.child.kill('SIGTERM')
  await server.exit()
  const output = [...server.stdout, server.stderr()]
  t.ok(server.stdout.filter((line) => line.startsWith('{')).length > 20, 'the log was captured')
  t.same(output.filter((line) => leaks(line, token)), [], 'no log line holds the token')
})

t.test('Authorization: Bearer on /ws follows the same rules as ?token=', async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(realtime, { jwt: { secret: SECRET, issuer: ISSUER } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const user = objectId()
  const good = signToken({ sub: user })
  const cases: Array<[string, Record<string, string>, string, number]> = [
    ['a valid header token', { authorization: `Bearer ${good}` }, '/ws', 101],
    ['an expired header token', { authorization: `Bearer ${signToken({ sub: user, exp: 1 })}` }, '/ws', 401],
    ['a refresh token in the header', { authorization: `Bearer ${signToken({ sub: user, token_type: 'refresh' })}` }, '/ws', 401],
    ['a header that is not Bearer', { authorization: `Basic ${good}` }, '/ws', 401],
    ['header and query differ', { authorization: `Bearer ${good}` }, `/ws?token=${signToken({ sub: objectId() })}`, 401],
    ['a bad sub in the header token', { authorization: `Bearer ${signToken({ sub: 'not-an-id' })}` }, '/ws', 400],
  ]
  for (const [what, headers, path, status] of cases) {
    const answer = await probe(base, path, { upgrade: true, headers })
    t.equal(answer.status, status, `${what}: ${status}`)
    if (status === 401) t.equal(answer.headers['www-authenticate'], 'Bearer', `${what}: WWW-Authenticate: Bearer`)
  }
})

t.test('a plain-logger host, the plugin without a prefix: another method on /ws does not log or echo the token', async (t) => {
  const { stream, lines } = capture()
  const app = Fastify({ logger: { level: 'trace', stream } })
  t.teardown(() => app.close())
  await app.register(realtime, { jwt: { secret: SECRET, issuer: ISSUER } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const token = signToken({ sub: objectId() })
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    const answer = await probe(base, `/ws?token=${token}`, { method })
    t.equal(answer.status, 404, `${method} /ws: 404`)
    t.notOk(leaks(answer.body, token), `${method} /ws: the body does not repeat the token`)
    t.match(JSON.parse(answer.body), { error: 'not_found', message: String }, `${method} /ws: the plugin’s JSON error shape`)
  }
  t.ok(lines.length > 4, `the log was captured (${lines.length} lines)`)
  t.same(lines.filter((line) => leaks(line, token)), [], 'no log line holds the token')
})
