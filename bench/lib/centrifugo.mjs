// Centrifugo v6 as a yardstick: built once from the Go module proxy into
// .cache/centrifugo/<version>/ (as test/servers/ferretdb.ts builds FerretDB),
// started on a core with a config for the same work as the other servers: a
// channel per chat channel (no namespace), any connected client may
// subscribe, subscribers may publish (typing is a publish), HS256 JWT connect
// with the bench's secret and issuer, no history, no presence, no join/leave.
// The runner drives it like the Node servers: { pid, port, call, stop }.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ISSUER, SECRET } from './common.mjs'

export const CENTRIFUGO_MODULE = 'github.com/centrifugal/centrifugo/v6'
export const CENTRIFUGO_VERSION = 'v6.9.1'

export const centrifugoBinary = (root) => join(root, '.cache', 'centrifugo', CENTRIFUGO_VERSION, 'centrifugo')
export const centrifugoBuilt = (root) => existsSync(centrifugoBinary(root))

/** Builds the binary unless it is cached; throws with the reason when `go install` fails. */
export function buildCentrifugo(root, { timeoutMs = 20 * 60_000 } = {}) {
  const binary = centrifugoBinary(root)
  if (existsSync(binary)) return binary
  const dir = join(root, '.cache', 'centrifugo', CENTRIFUGO_VERSION)
  mkdirSync(dir, { recursive: true })
  process.stderr.write(`building Centrifugo ${CENTRIFUGO_VERSION} (once; cached in .cache/centrifugo)…\n`)
  const result = spawnSync('go', ['install', `${CENTRIFUGO_MODULE}@${CENTRIFUGO_VERSION}`], {
    cwd: dir,
    env: { ...process.env, GOBIN: dir, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: timeoutMs,
  })
  if (result.error) throw new Error(`could not run go install for Centrifugo: ${result.error.message}`)
  if (result.status !== 0 || !existsSync(binary)) throw new Error(`go install of Centrifugo failed with exit code ${result.status}`)
  return binary
}

function config(port) {
  return {
    http_server: { address: '127.0.0.1', port },
    log: { level: 'error' },
    client: {
      token: { hmac_secret_key: SECRET, issuer: ISSUER },
      // The generator sends no Origin header; no browser is involved.
      allowed_origins: ['*'],
    },
    channel: {
      without_namespace: {
        allow_subscribe_for_client: true,
        allow_publish_for_subscriber: true,
      },
    },
    // /health to know it is up; /debug/pprof/heap?gc=1 is the runner's `gc` (a forced collection, as for the Node servers).
    health: { enabled: true },
    debug: { enabled: true },
    usage_stats: { disabled: true },
  }
}

/** Starts a built Centrifugo on `port`, pinned to `core` when `pin`; resolves once /health answers. */
export async function startCentrifugo(root, { port, core, pin, track }) {
  const binary = centrifugoBinary(root)
  const dir = mkdtempSync(join(tmpdir(), 'bench-centrifugo-'))
  const file = join(dir, 'config.json')
  writeFileSync(file, JSON.stringify(config(port)))
  const args = [binary, '--config', file]
  // taskset execs the binary: the pid is Centrifugo's own (its CPU is read from /proc/<pid>).
  const child = pin ? spawn('taskset', ['-c', core, ...args], { stdio: ['ignore', 'ignore', 'inherit'], cwd: dir }) : spawn(args[0], args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], cwd: dir })
  track?.(child)
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`centrifugo exited (${child.exitCode}) before it was ready`)
    try {
      const res = await fetch(`${url}/health`)
      if (res.ok) break
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error('centrifugo did not answer /health in 15 s')
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    pid: child.pid,
    port,
    async call(cmd) {
      // `seed`: nothing to seed (channels exist when subscribed; no membership check, as configured).
      if (cmd === 'gc') await (await fetch(`${url}/debug/pprof/heap?gc=1`)).arrayBuffer()
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(t)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
