/**
 * The standalone process (contract sections 1, 2 and 6), spawned as an
 * operator runs it: `node --import tsx server.ts` with a chosen environment.
 * Never imported. Every child is killed by its PID when its test ends.
 */
import t from 'tap'
import { DEMO_CHANNEL_ID, DEMO_USERS } from '../demo/seed.js'
import { WAIT_MS, connect, signToken, withoutOffset } from './helper.js'
import { spawnStandalone, type Standalone } from './servers/standalone.js'

/** "Exits within a few seconds" of SIGTERM. */
const SHUTDOWN_MS = 5_000
const JWT_LIKE = /eyJ[\w-]+\.[\w-]+\.[\w-]+/

interface Demo {
  channelId: string
  users: Array<{ username: string; id: string; token: string }>
}

/** Reads the demo banner the server prints once it listens. */
async function demoBanner(server: Standalone): Promise<Demo> {
  const channelLine = await server.line(/^Channel [0-9a-f]{24} /)
  await server.line(/^Connect, for example:/)
  const users: Demo['users'] = []
  for (const line of server.stdout) {
    const match = /^\s+(\w+)\s+([0-9a-f]{24})\s+(\S+\.\S+\.\S+)\s*$/.exec(line)
    if (match) users.push({ username: match[1]!, id: match[2]!, token: match[3]! })
  }
  return { channelId: /^Channel ([0-9a-f]{24}) /.exec(channelLine)![1]!, users }
}

/** The stdout lines that are JSON log records. */
function jsonLogLines(stdout: string[]): Array<{ line: string; record: Record<string, unknown> }> {
  const records: Array<{ line: string; record: Record<string, unknown> }> = []
  for (const line of stdout) {
    if (!line.startsWith('{')) continue
    try {
      records.push({ line, record: JSON.parse(line) as Record<string, unknown> })
    } catch {}
  }
  return records
}

t.test('demo mode prints the demo channel and a token per demo user, and a token connects', async (t) => {
  const server = await spawnStandalone(t)
  const demo = await demoBanner(server)
  t.equal(demo.channelId, DEMO_CHANNEL_ID, 'the demo channel id')
  t.same(
    demo.users.map((user) => [user.username, user.id]),
    DEMO_USERS.map((user) => [user.username, user.id]),
    'one line per demo user',
  )
  for (const user of demo.users) t.match(user.token, JWT_LIKE, `${user.username} has a token`)

  const wsUrl = server.wsUrl
  const [ada, grace] = demo.users
  const adaClient = await connect(t, wsUrl, ada!.token)
  t.same(withoutOffset(adaClient.received[0]!), { type: 'connected', data: { user_id: ada!.id } })
  const graceClient = await connect(t, wsUrl, grace!.token)

  // The printed users really share the printed channel.
  adaClient.send({ type: 'typing:start', data: { channel_id: demo.channelId } })
  t.same(await graceClient.next('typing:start'), {
    type: 'typing:start',
    data: { channel_id: demo.channelId, user_id: ada!.id },
  })
})

t.test('on SIGTERM a connected client is closed with 1001 and the process exits 0; logs never hold the token', async (t) => {
  const server = await spawnStandalone(t)
  const demo = await demoBanner(server)
  const wsUrl = server.wsUrl
  const token = demo.users[0]!.token
  const client = await connect(t, wsUrl, token)
  const unauthorized = await fetch(`${server.url}/ws?token=${token}x`)
  t.equal(unauthorized.status, 401, 'a refused token is logged too')

  const signalledAt = Date.now()
  server.child.kill('SIGTERM')
  const closed = await Promise.race([
    client.closed,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the client was not closed')), WAIT_MS)),
  ])
  t.equal(closed.code, 1001, 'closed as going away')
  const exit = await server.exit(SHUTDOWN_MS)
  t.same(exit, { code: 0, signal: null }, 'exits 0')
  t.ok(Date.now() - signalledAt < SHUTDOWN_MS, `within a few seconds (${Date.now() - signalledAt} ms)`)

  const logs = jsonLogLines(server.stdout)
  t.ok(logs.length > 0, 'the server logs JSON lines')
  t.ok(
    logs.some(({ line }) => line.includes('/ws?token=[REDACTED]')),
    'the /ws requests are logged (with the token replaced)',
  )
  for (const { line } of logs) {
    if (line.includes(token.slice(-20)) || line.includes(token.split('.')[1]!)) {
      t.fail(`a log line holds the token: ${line}`)
    }
  }
  t.notOk(server.stderr().includes(token.split('.')[2]!), 'nor does stderr')
})

t.test('production without a secret refuses to start, naming ROOMLER__JWT__SECRET, and prints no demo', async (t) => {
  const server = await spawnStandalone(t, { env: { NODE_ENV: 'production' } })
  const exit = await server.exit()
  t.not(exit.code, 0, `exits non-zero (${exit.code})`)
  t.match(server.stderr() + server.stdout.join('\n'), 'ROOMLER__JWT__SECRET')
  const out = server.stdout.join('\n')
  t.notMatch(out, /demo/i, 'no demo banner')
  t.notMatch(out + server.stderr(), JWT_LIKE, 'no token printed')
})

t.test('production with Roomler2’s default secret set explicitly refuses to start too', async (t) => {
  const server = await spawnStandalone(t, { env: { NODE_ENV: 'production', ROOMLER__JWT__SECRET: 'change-me-in-production' } })
  const exit = await server.exit()
  t.not(exit.code, 0)
  t.match(server.stderr() + server.stdout.join('\n'), 'ROOMLER__JWT__SECRET')
  t.notMatch(server.stdout.join('\n'), JWT_LIKE, 'no token printed')
})

t.test('ROOMLER__APP__PORT=abc refuses to start, naming ROOMLER__APP__PORT', async (t) => {
  const bad = await spawnStandalone(t, { env: { ROOMLER__APP__PORT: 'abc' } })
  const exit = await bad.exit()
  t.not(exit.code, 0, `exits non-zero (${exit.code})`)
  t.match(bad.stderr() + bad.stdout.join('\n'), 'ROOMLER__APP__PORT')
})

t.test('with a secret of its own it serves tokens signed with it, and prints no demo', async (t) => {
  const secret = 'a-production-secret-0123456789abcdef-xyz'
  const server = await spawnStandalone(t, { env: { NODE_ENV: 'production', ROOMLER__JWT__SECRET: secret } })
  await server.listening()
  const user = '65f1c0ffee0123456789abcd'
  const client = await connect(t, server.wsUrl, signToken({ sub: user }, secret))
  t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } })
  server.child.kill('SIGTERM')
  t.same(await server.exit(SHUTDOWN_MS), { code: 0, signal: null })
  t.notMatch(server.stdout.join('\n'), /demo mode/i, 'no demo banner')
  t.notMatch(server.stdout.join('\n'), JWT_LIKE, 'no token printed or logged')
})
