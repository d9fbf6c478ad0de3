/**
 * A real redis-server for the tests: one process on a free loopback port, no
 * persistence, its working directory a fresh temporary one. `stop()` ends it
 * (by its PID, never by name) and `start()` starts it again on the same port,
 * so a test can take Redis away under traffic and bring it back. CI installs
 * redis-server (scripts/test.sh); REDIS_SERVER names another binary.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports.js'

export const redisServerBinary = process.env.REDIS_SERVER ?? 'redis-server'

/** How long a start may take before it counts as failed. */
const START_TIMEOUT_MS = 10_000
/** How long a SIGTERM may take before the process is killed outright. */
const STOP_TIMEOUT_MS = 5_000

export interface RunningRedis {
  /** redis://127.0.0.1:<port> */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** The PID of the current process, or undefined while stopped. */
  readonly pid: number | undefined
  /** Stops the process: SIGTERM (a clean shutdown, clients disconnected), or SIGKILL with `{ kill: true }`. */
  stop(options?: { kill?: boolean }): Promise<void>
  /** Starts it again on the same port and waits until it answers PING. */
  start(): Promise<void>
  /** Stops it for good and removes its directory. */
  close(): Promise<void>
}


/** Sends PING over a plain TCP connection; true when the answer is +PONG. */
function ping(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let answer = ''
    const finish = (ok: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString()
      if (answer.includes('\r\n')) finish(answer.startsWith('+PONG'))
    })
    socket.once('error', () => finish(false))
    socket.once('close', () => finish(false))
  })
}

/**
 * Every redis-server this process started and has not seen exit, and every
 * directory not yet removed: if the test process exits without closing them
 * (a teardown cut short), they are killed by PID and removed here.
 */
const running = new Set<ChildProcess>()
const directories = new Set<string>()
process.once('exit', () => {
  for (const child of running) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    } catch {}
  }
  for (const dir of directories) rmSync(dir, { recursive: true, force: true })
})

/** Starts redis-server; `port` 0 (the default) picks a free one. */
export async function startRedis(options: { port?: number } = {}): Promise<RunningRedis> {
  const port = options.port || (await freePort())
  const dataDir = mkdtempSync(join(tmpdir(), 'roomler-redis-'))
  directories.add(dataDir)
  let child: ChildProcess | undefined
  let output = ''

  async function launch(): Promise<void> {
    if (child) throw new Error(`redis-server on port ${port} is already running (PID ${child.pid})`)
    output = ''
    const proc = spawn(
      redisServerBinary,
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--dir', dataDir,
        '--daemonize', 'no',
        '--logfile', '',
        '--loglevel', 'notice',
      ],
      { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    child = proc
    running.add(proc)
    const exited = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        running.delete(proc)
        if (child === proc) child = undefined
        resolve()
      })
    })
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000)
    }
    proc.stdout!.on('data', collect)
    proc.stderr!.on('data', collect)
    let spawnError: Error | undefined
    proc.once('error', (error) => {
      spawnError = error
      running.delete(proc)
      if (child === proc) child = undefined
    })

    const deadline = Date.now() + START_TIMEOUT_MS
    for (;;) {
      if (spawnError) throw new Error(`could not run ${redisServerBinary}: ${spawnError.message}`)
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`redis-server exited with ${proc.exitCode ?? proc.signalCode} before it answered PING:\n${output}`)
      }
      // Its own log line first, so that PING never reaches another process that held the port.
      if (output.includes('Ready to accept connections') && (await ping(port))) return
      if (Date.now() > deadline) {
        proc.kill('SIGKILL')
        await exited
        throw new Error(`redis-server did not answer PING within ${START_TIMEOUT_MS} ms:\n${output}`)
      }
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  async function stop(stopOptions: { kill?: boolean } = {}): Promise<void> {
    const proc = child
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
      child = undefined
      return
    }
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve()
      else proc.once('exit', () => resolve())
    })
    proc.kill(stopOptions.kill ? 'SIGKILL' : 'SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
    child = undefined
  }

  await launch()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dataDir,
    get pid() {
      return child?.pid
    },
    stop,
    start: launch,
    async close() {
      await stop()
      rmSync(dataDir, { recursive: true, force: true })
      directories.delete(dataDir)
    },
  }
}
