/**
 * The standalone process (contract sections 1, 2 and 6), spawned as an
 * operator runs it: `node --import tsx server.ts` with a chosen environment.
 * Never imported. Every child is killed by its PID when its test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { DEMO_CHANNEL_ID, DEMO_USERS } from '../lib/demo.js'
import { WAIT_MS, connect, signToken } from './helper.js'
import { freePort } from './servers/ports.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
/** How long a spawned server may take to start (tsx compiles on the fly). */
const START_MS = 15_000
/** "Exits within a few seconds" of SIGTERM. */
const SHUTDOWN_MS = 5_000
const JWT_LIKE = /eyJ[\w-]+\.[\w-]+\.[\w-]+/


interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

interface Server {
  child: ChildProcess
  port: number
  stdout: string[]
  stderr: () => string
  exited: Promise<Exit>
  /** The first stdout line (already printed or still to come) that matches. */
  line(match: RegExp, timeoutMs?: number): Promise<string>
  /** Waits for the exit, failing after `timeoutMs`. */
  exit(timeoutMs?: number): Promise<Exit>
}

/** Spawns server.ts with `env` on top of this process's environment, less any ROOMLER__* and NODE_ENV. */
function startServer(t: Test, env: Record<string, string>, port: number): Server {
  const base: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('ROOMLER__') || name === 'NODE_ENV' || name === 'LOG_LEVEL') continue
    base[name] = value
  }
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: ROOT,
    env: { ...base, ROOMLER__APP__HOST: '127.0.0.1', ROOMLER__APP__PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const stdout: string[] = []
  let stderr = ''
  let wake: Array<() => void> = []
  const wakeAll = () => {
    const waiting = wake
    wake = []
    for (const w of waiting) w()
  }
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout.push(line)
    wakeAll()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  let done = false
  const exited = new Promise<Exit>((resolveExit) => {
    // 'close' comes after the exit and after stdout and stderr have ended.
    child.once('close', (code, signal) => {
      done = true
      wakeAll()
      resolveExit({ code, signal })
    })
  })
  const describe = () => `stdout:\n${stdout.join('\n')}\nstderr:\n${stderr}`
  return {
    child,
    port,
    stdout,
    stderr: () => stderr,
    exited,
    async line(match, timeoutMs = START_MS) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = stdout.find((line) => match.test(line))
        if (found !== undefined) return found
        if (done) throw new Error(`the server exited before printing ${match}; ${describe()}`)
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`no line matching ${match} within ${timeoutMs} ms; ${describe()}`)
        await new Promise<void>((wakeUp) => {
          const timer = setTimeout(wakeUp, left)
          wake.push(() => {
            clearTimeout(timer)
            wakeUp()
          })
        })
      }
    },
    async exit(timeoutMs = START_MS) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the server did not exit within ${timeoutMs} ms; ${describe()}`)), timeoutMs)
      })
      try {
        return await Promise.race([exited, timeout])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

interface Demo {
  channelId: string
  users: Array<{ username: string; id: string; token: string }>
}

/** Reads the demo banner the server prints once it listens. */
async function demoBanner(server: Server): Promise<Demo> {
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
  const server = startServer(t, {}, await freePort())
  const demo = await demoBanner(server)
  t.equal(demo.channelId, DEMO_CHANNEL_ID, 'the demo channel id')
  t.same(
    demo.users.map((user) => [user.username, user.id]),
    DEMO_USERS.map((user) => [user.username, user.id]),
    'one line per demo user',
  )
  for (const user of demo.users) t.match(user.token, JWT_LIKE, `${user.username} has a token`)

  const wsUrl = `ws://127.0.0.1:${server.port}/ws`
  const [ada, grace] = demo.users
  const adaClient = await connect(t, wsUrl, ada!.token)
  t.same(adaClient.received[0], { type: 'connected', data: { user_id: ada!.id } })
  const graceClient = await connect(t, wsUrl, grace!.token)

  // The printed users really share the printed channel.
  adaClient.send({ type: 'typing:start', data: { channel_id: demo.channelId } })
  t.same(await graceClient.next('typing:start'), {
    type: 'typing:start',
    data: { channel_id: demo.channelId, user_id: ada!.id },
  })
})

t.test('on SIGTERM a connected client is closed with 1001 and the process exits 0; logs never hold the token', async (t) => {
  const server = startServer(t, {}, await freePort())
  const demo = await demoBanner(server)
  const wsUrl = `ws://127.0.0.1:${server.port}/ws`
  const token = demo.users[0]!.token
  const client = await connect(t, wsUrl, token)
  const unauthorized = await fetch(`http://127.0.0.1:${server.port}/ws?token=${token}x`)
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
  const server = startServer(t, { NODE_ENV: 'production' }, await freePort())
  const exit = await server.exit()
  t.not(exit.code, 0, `exits non-zero (${exit.code})`)
  t.match(server.stderr() + server.stdout.join('\n'), 'ROOMLER__JWT__SECRET')
  const out = server.stdout.join('\n')
  t.notMatch(out, /demo/i, 'no demo banner')
  t.notMatch(out + server.stderr(), JWT_LIKE, 'no token printed')
})

t.test('production with Roomler2’s default secret set explicitly refuses to start too', async (t) => {
  const server = startServer(t, { NODE_ENV: 'production', ROOMLER__JWT__SECRET: 'change-me-in-production' }, await freePort())
  const exit = await server.exit()
  t.not(exit.code, 0)
  t.match(server.stderr() + server.stdout.join('\n'), 'ROOMLER__JWT__SECRET')
  t.notMatch(server.stdout.join('\n'), JWT_LIKE, 'no token printed')
})

t.test('ROOMLER__APP__PORT=abc refuses to start, naming ROOMLER__APP__PORT', async (t) => {
  const bad = startServer(t, { ROOMLER__APP__PORT: 'abc' }, 0)
  const exit = await bad.exit()
  t.not(exit.code, 0, `exits non-zero (${exit.code})`)
  t.match(bad.stderr() + bad.stdout.join('\n'), 'ROOMLER__APP__PORT')
})

t.test('with a secret of its own it serves tokens signed with it, and prints no demo', async (t) => {
  const secret = 'a-production-secret-0123456789abcdef-xyz'
  const server = startServer(t, { NODE_ENV: 'production', ROOMLER__JWT__SECRET: secret }, await freePort())
  await server.line(/Server listening at/)
  const user = '65f1c0ffee0123456789abcd'
  const client = await connect(t, `ws://127.0.0.1:${server.port}/ws`, signToken({ sub: user }, secret))
  t.same(client.received[0], { type: 'connected', data: { user_id: user } })
  server.child.kill('SIGTERM')
  t.same(await server.exit(SHUTDOWN_MS), { code: 0, signal: null })
  t.notMatch(server.stdout.join('\n'), /demo mode/i, 'no demo banner')
  t.notMatch(server.stdout.join('\n'), JWT_LIKE, 'no token printed or logged')
})
