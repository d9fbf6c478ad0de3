// npm run bench -- --only=host [--quick] [--runs=N] [--idle=N]
// What embedding costs a host API (issue 14): the host of
// bench/servers/host-api.mjs (its own @fastify/jwt and fastify-metrics, a
// JSON REST route) measured alone, with roomler-realtime registered under
// /realtime, and with it holding N idle WebSocket connections (host-signed
// tokens, opened by bench/gen.mjs). For each: the server's CPU with no HTTP
// load (timers and heartbeats: a window of one heartbeat period), then a
// closed loop of keep-alive GETs of the host's route (bench/host-load.mjs):
// requests/s and server CPU µs per request. Variants alternate, the order
// rotating each run; figures are medians. Then bench/host-inject.mjs: the
// per-request cost of both hosts in one process, without network or scheduler. Server on CPU 0, generators on
// CPU 1; every process stopped by its PID. Writes bench/results/host.{json,md}.
import { execFileSync } from 'node:child_process'
import { cpus, loadavg, totalmem } from 'node:os'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { signToken, userId } from './lib/common.mjs'
import { GEN_CPU, SERVER_CPU, killAll, pinned, sleep, startNode } from './lib/procs.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const arg = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const cfg = quick
  ? { runs: 1, idle: 100, idleMs: 1000, warmMs: 300, loadMs: 1000, concurrency: 16 }
  : { runs: 3, idle: 2000, idleMs: 30_000, warmMs: 2000, loadMs: 10_000, concurrency: 32 }
if (arg('runs')) cfg.runs = Number(arg('runs'))
if (arg('idle')) cfg.idle = Number(arg('idle'))
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))
const started = Date.now()
const log = (...a) => console.log(`[bench:host ${((Date.now() - started) / 1000).toFixed(0)}s]`, ...a)
const deadline = setTimeout(() => {
  console.error('bench:host: over its time budget (15 min); stopping')
  process.exit(2)
}, 15 * 60_000)
deadline.unref()

const VARIANTS = [
  { key: 'alone', label: 'host alone', env: {}, idle: 0 },
  { key: 'plugin', label: 'host + roomler-realtime', env: { BENCH_HOST_REALTIME: '1' }, idle: 0 },
  { key: 'idle', label: `host + roomler-realtime + ${cfg.idle} idle WebSockets`, env: { BENCH_HOST_REALTIME: '1' }, idle: cfg.idle },
]

if (!process.env.BENCH_NO_BUILD) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
const users = Array.from({ length: cfg.idle }, (_, i) => userId(i))
const tokens = users.map((id) => signToken(id))

async function variantRun(variant) {
  const server = await startNode(here, 'servers/host-api.mjs', SERVER_CPU, variant.env, ['--expose-gc'])
  const loader = await startNode(here, 'host-load.mjs', GEN_CPU)
  let gen
  let connected = 0
  if (variant.idle > 0) {
    gen = await startNode(here, 'gen.mjs', GEN_CPU, {}, ['--max-old-space-size=1024'])
    const r = await gen.call('connect', { base: `ws://127.0.0.1:${server.port}/realtime`, proto: 'plain', users, tokens, concurrency: 100 })
    connected = r.connected
    if (r.failed > 0) log(variant.key, 'connections failed:', JSON.stringify(r.failReasons))
  }
  await sleep(500)
  const idle = await loader.call('idle', { durationMs: cfg.idleMs, serverPid: server.pid })
  const load = await loader.call('load', { port: server.port, path: '/api/items', concurrency: cfg.concurrency, warmMs: cfg.warmMs, durationMs: cfg.loadMs, serverPid: server.pid })
  await gen?.stop()
  await loader.stop()
  await server.stop()
  return { connected, idleServerCpuPct: idle.serverCpuPct, ...load }
}

const results = Object.fromEntries(VARIANTS.map((v) => [v.key, []]))
for (let run = 0; run < cfg.runs; run++) {
  const order = VARIANTS.map((_, i) => VARIANTS[(i + run) % VARIANTS.length])
  for (const variant of order) {
    const r = await variantRun(variant)
    results[variant.key].push(r)
    log(`run ${run + 1}/${cfg.runs}`, variant.key, JSON.stringify(r))
  }
}

// The same two hosts in one process, inject() batches alternating (bench/host-inject.mjs): the per-request cost without the scheduler.
const injectArgs = [process.execPath, join(here, 'host-inject.mjs')]
const injected = JSON.parse(
  execFileSync(pinned ? 'taskset' : injectArgs[0], pinned ? ['-c', SERVER_CPU, ...injectArgs] : injectArgs.slice(1), {
    env: { ...process.env, ...(quick ? { BENCH_INJECT_ROUNDS: '4', BENCH_INJECT_BATCH: '300' } : {}) },
    encoding: 'utf8',
  }).trim().split('\n').pop(),
)
log('inject', JSON.stringify(injected))

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fig = (key, field) => median(results[key].map((r) => r[field]))
const rows = [
  ['requests/s, closed loop of GET /api/items', 'requestsPerSec', 0],
  ['server CPU µs per request', 'serverCpuUsPerRequest', 1],
  ['server CPU % under that load', 'serverCpuPct', 0],
  ['server CPU % with no HTTP load (one heartbeat period)', 'idleServerCpuPct', 2],
  ['generator CPU % (HTTP)', 'genCpuPct', 0],
]
const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, load average ${loadavg()[0].toFixed(1)} at the end`
const header = `| figure | ${VARIANTS.map((v) => v.label).join(' | ')} | plugin / alone | plugin + idle / alone |`
const lines = rows.map(([label, field, digits]) => {
  const [a, p, i] = VARIANTS.map((v) => fig(v.key, field))
  const ratio = (x) => (a > 0 ? `${((x / a - 1) * 100).toFixed(1)} %` : '–')
  return `| ${label} | ${[a, p, i].map((x) => x.toFixed(digits)).join(' | ')} | ${ratio(p)} | ${ratio(i)} |`
})
const md = [
  `Run ${new Date().toISOString()}; ${cfg.runs} alternating run(s), medians; ${machine}; ${cfg.concurrency} requests in flight, ${cfg.loadMs / 1000} s measured after ${cfg.warmMs / 1000} s warm-up; took ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  '',
  header,
  `|---|${VARIANTS.map(() => '---:').join('|')}|---:|---:|`,
  ...lines,
  '',
  `In one process, app.inject() batches alternating (${injected.rounds} rounds of ${injected.batch} GETs each): host alone ${injected.aloneUsPerRequest.toFixed(1)} µs, with roomler-realtime ${injected.embeddedUsPerRequest.toFixed(1)} µs CPU per request; median ratio of the rounds ${((injected.medianRatio - 1) * 100).toFixed(1)} % (interquartile ${((injected.ratioP25 - 1) * 100).toFixed(1)} % to ${((injected.ratioP75 - 1) * 100).toFixed(1)} %).`,
].join('\n')
console.log(`\n${md}\n`)
const out = join(here, 'results')
mkdirSync(out, { recursive: true })
const name = quick ? 'host-quick' : 'host'
writeFileSync(join(out, `${name}.json`), JSON.stringify({ cfg, machine, results, injected }, null, 2) + '\n')
writeFileSync(join(out, `${name}.md`), md + '\n')
process.exit(0)
