/**
 * The standalone server as an operator runs it, for the tests that spawn it:
 * `node --import tsx server.ts` (or the built `node dist/server.js`) in the
 * repository root, on a loopback port, with this process's environment less
 * any ROOMLER__*, NODE_ENV and LOG_LEVEL, and the test's own variables on top.
 * Every child is killed by its PID when its test ends (or, failing that, when
 * this process exits). Its stdout lines and stderr are kept for the test to
 * read and for the failures to quote.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { freePort } from './ports.js'

/** The repository root, where server.ts and dist/ are. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** How long a spawned server may take to start by default (tsx compiles on the fly). */
export const START_MS = 15_000

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface StandaloneOptions {
  /** Variables on top of the clean environment (they may override ROOMLER__APP__HOST and ROOMLER__APP__PORT). */
  env?: Record<string, string>
  /** ROOMLER__APP__PORT; a free loopback port when left out. */
  port?: number
  /** Runs the built `dist/server.js` (as `npm start` does) instead of `server.ts` through tsx. */
  built?: boolean
}

export interface Standalone {
  child: ChildProcess
  port: number
  /** http://127.0.0.1:<port> */
  url: string
  /** ws://127.0.0.1:<port>/ws */
  wsUrl: string
  /** Every stdout line so far. */
  stdout: string[]
  /** Everything on stderr so far. */
  stderr(): string
  /** Resolves once the process has exited and its output has ended. */
  exited: Promise<Exit>
  /** The first stdout line (already printed or still to come) that matches; fails on the exit or after `timeoutMs`. */
  line(match: RegExp, timeoutMs?: number): Promise<string>
  /** Resolves once the server logs that it listens (`Server listening at`). */
  listening(timeoutMs?: number): Promise<void>
  /** Waits for the exit, failing after `timeoutMs`. */
  exit(timeoutMs?: number): Promise<Exit>
  /** The end of stdout and stderr, for failure messages. */
  output(): string
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The children not yet seen to exit: killed by PID if this process exits before their teardown. */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    } catch {}
  }
})

/** This process's environment less what would configure the server behind the test's back. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('ROOMLER__') || name === 'NODE_ENV' || name === 'LOG_LEVEL') continue
    env[name] = value
  }
  return env
}

/** Spawns the standalone server; it is killed by its PID when the test ends. */
export async function spawnStandalone(t: Teardown, options: StandaloneOptions = {}): Promise<Standalone> {
  const port = options.port ?? (await freePort())
  const args = options.built ? ['dist/server.js'] : ['--import', 'tsx', 'server.ts']
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...cleanEnv(), ROOMLER__APP__HOST: '127.0.0.1', ROOMLER__APP__PORT: String(port), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })

  const stdout: string[] = []
  let stderr = ''
  let done = false
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
  const exited = new Promise<Exit>((resolveExit) => {
    // 'close' comes after the exit and after stdout and stderr have ended.
    child.once('close', (code, signal) => {
      running.delete(child)
      done = true
      wakeAll()
      resolveExit({ code, signal })
    })
  })
  const output = () => `stdout:\n${stdout.slice(-40).join('\n')}\nstderr:\n${stderr.slice(-8000)}`

  async function line(match: RegExp, timeoutMs = START_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = stdout.find((candidate) => match.test(candidate))
      if (found !== undefined) return found
      if (done) {
        throw new Error(`the server exited (${child.exitCode ?? child.signalCode}) before printing ${match}; ${output()}`)
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no line matching ${match} within ${timeoutMs} ms; ${output()}`)
      await new Promise<void>((wakeUp) => {
        const timer = setTimeout(wakeUp, left)
        wake.push(() => {
          clearTimeout(timer)
          wakeUp()
        })
      })
    }
  }

  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    stdout,
    stderr: () => stderr,
    exited,
    line,
    async listening(timeoutMs = START_MS) {
      await line(/Server listening at/, timeoutMs)
    },
    async exit(timeoutMs = START_MS) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the server did not exit within ${timeoutMs} ms; ${output()}`)), timeoutMs)
      })
      try {
        return await Promise.race([exited, timeout])
      } finally {
        clearTimeout(timer)
      }
    },
    output,
  }
}
