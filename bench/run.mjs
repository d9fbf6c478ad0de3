// npm run bench [-- --quick] [-- --only=idle,typing,presence,redis] [-- --servers=roomler,plain-ws]
// Runs every scenario against the service and the two baselines, alternating,
// each figure the median of the runs; writes bench/results/latest.{json,md}
// and (full runs) the table in BENCHMARKS.md. Server on one core, generators
// on the other (taskset). Every process it starts is stopped by its PID.
import { spawn, execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { channelId, cpuMicros, median, rssBytes, signToken, userId } from './lib/common.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const arg = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const only = arg('only')?.split(',') ?? ['idle', 'typing', 'presence', 'redis']
const serverNames = arg('servers')?.split(',') ?? ['plain-ws', 'roomler', 'socket.io']
const cfg = quick
  ? { runs: 1, idle: [100, 300], typingUsers: 100, channelSize: 10, presenceUsers: 200, announcers: 4, seqUpdates: 5, warmMs: 200, floodMs: 500, rateMs: 500 }
  : { runs: 3, idle: [5000, 19000], typingUsers: 2000, channelSize: 50, presenceUsers: 5000, announcers: 20, seqUpdates: 40, warmMs: 1000, floodMs: 4000, rateMs: 5000 }
if (arg('runs')) cfg.runs = Number(arg('runs'))
const RUN_DEADLINE_MS = quick ? 5 * 60_000 : 14 * 60_000
const started = Date.now()
const pinned = cpus().length >= 2
const SERVER_CPU = '0'
const GEN_CPU = '1'
const FILES = { 'plain-ws': 'servers/plain-ws.mjs', roomler: 'servers/roomler.mjs', 'roomler-before': 'servers/roomler.mjs', 'socket.io': 'servers/socketio.mjs' }
const PROTO = { 'plain-ws': 'plain', roomler: 'plain', 'roomler-before': 'plain', 'socket.io': 'sio' }
// `roomler-before`: the service built from another tree (BENCH_BEFORE_DIST, relative to bench/servers), for before/after runs.
const SERVER_ENV = { 'roomler-before': { BENCH_DIST: process.env.BENCH_BEFORE_DIST ?? '../../.cache/dist-before' } }
// BENCH_CPU_PROF=<dir>: the service runs with --cpu-prof, one profile per server process.
const PROF_DIR = process.env.BENCH_CPU_PROF
const children = new Set()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (...a) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s]`, ...a)

function killAll() {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))
const deadline = setTimeout(() => {
  console.error('bench: over its time budget; stopping')
  process.exit(2)
}, RUN_DEADLINE_MS)
deadline.unref()

/** A child node process on a core, with request/response over IPC. */
async function startNode(file, core, env = {}, extraArgs = []) {
  const args = [process.execPath, ...extraArgs, join(here, file)]
  const child = pinned ? spawn('taskset', ['-c', core, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } })
    : spawn(args[0], args.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } })
  children.add(child)
  const pending = new Map()
  let nextId = 1
  let readyInfo
  const ready = new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready`)))
    child.on('message', (msg) => {
      if (msg.ready) {
        readyInfo = msg
        return resolve(msg)
      }
      const p = pending.get(msg.id)
      if (!p) return
      pending.delete(msg.id)
      msg.ok ? p.resolve(msg.result) : p.reject(new Error(msg.error))
    })
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  await ready
  clearTimeout(timer)
  child.on('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`${file} exited`))
    pending.clear()
  })
  return {
    pid: child.pid,
    port: readyInfo.port,
    call(cmd, body = {}) {
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        child.send({ id, cmd, ...body })
      })
    },
    async stop() {
      children.delete(child)
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(t)
    },
  }
}

const startServer = (name, env) =>
  startNode(FILES[name], SERVER_CPU, { ...SERVER_ENV[name], ...env }, ['--expose-gc', ...(PROF_DIR && name.startsWith('roomler') ? ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [])])
const startGen = () => startNode('gen.mjs', GEN_CPU, {}, ['--max-old-space-size=2048'])

async function freePort() {
  const s = createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const port = s.address().port
  await new Promise((r) => s.close(r))
  return port
}

async function startRedis() {
  const port = await freePort()
  const args = ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const child = pinned ? spawn('taskset', ['-c', SERVER_CPU, ...args], { stdio: 'ignore' }) : spawn(args[0], args.slice(1), { stdio: 'ignore' })
  children.add(child)
  for (let i = 0; i < 100; i++) {
    await sleep(50)
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' })
      break
    } catch {}
  }
  return {
    pid: child.pid,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      children.delete(child)
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    },
  }
}

const tokenCache = new Map()
const users = (from, count) => Array.from({ length: count }, (_, i) => userId(from + i))
function tokens(ids) {
  return ids.map((id) => {
    if (!tokenCache.has(id)) tokenCache.set(id, signToken(id))
    return tokenCache.get(id)
  })
}
const rotate = (list, r) => list.map((_, i) => list[(i + r) % list.length])
const base = (port) => `ws://127.0.0.1:${port}`

// ---- scenario 1: idle connections ----------------------------------------
async function idleRun(name) {
  const [small, large] = cfg.idle
  const ids = users(0, large)
  const server = await startServer(name)
  await server.call('seed', { channels: [], invisible: ids })
  await sleep(300)
  await server.call('gc')
  await sleep(200)
  const rss0 = rssBytes(server.pid)
  const gens = [await startGen(), await startGen()]
  const connectSlice = async (from, to) => {
    const mid = from + Math.floor((to - from) / 2)
    const parts = [[from, mid], [mid, to]]
    const results = await Promise.all(parts.map(([a, b], g) => gens[g].call('connect', { base: base(server.port), proto: PROTO[name], users: ids.slice(a, b), tokens: tokens(ids.slice(a, b)), concurrency: 400 })))
    return results
  }
  const cpu0 = cpuMicros(server.pid)
  const r1 = await connectSlice(0, small)
  const cpu1 = cpuMicros(server.pid)
  await sleep(1000)
  await server.call('gc')
  await sleep(300)
  const rssSmall = rssBytes(server.pid)
  const cpu2 = cpuMicros(server.pid)
  const r2 = await connectSlice(small, large)
  const cpu3 = cpuMicros(server.pid)
  await sleep(1000)
  await server.call('gc')
  await sleep(300)
  const rssLarge = rssBytes(server.pid)
  const connected = r2.reduce((s, r) => s + r.connected, 0)
  const failed = [...r1, ...r2].reduce((s, r) => s + r.failed, 0)
  for (const g of gens) await g.stop()
  await server.stop()
  return {
    kibPerConnSmall: (rssSmall - rss0) / small / 1024,
    kibPerConnLarge: (rssLarge - rss0) / large / 1024,
    cpuUsPerConn: (cpu1 - cpu0 + (cpu3 - cpu2)) / large,
    rss0MiB: rss0 / 2 ** 20,
    connected,
    failed,
    genCpuPct: Math.max(...[...r1, ...r2].map((r) => r.genCpuPct)),
  }
}

// ---- scenario 2: typing fan-out ------------------------------------------
function channelPlan(count, size, offset = 0) {
  const ids = users(offset, count)
  const channels = []
  for (let c = 0; c * size < count; c++) channels.push([channelId(c), ids.slice(c * size, (c + 1) * size)])
  const senders = channels.flatMap(([ch, list]) => list.map((u) => [u, ch, list.length - 1]))
  return { ids, channels, senders }
}

async function typingRun(name, rateHolder, instances = 1) {
  const plan = channelPlan(cfg.typingUsers, cfg.channelSize)
  const redis = instances > 1 ? await startRedis() : null
  const servers = []
  for (let i = 0; i < instances; i++) servers.push(await startServer(name, redis ? { BENCH_REDIS_URL: redis.url } : {}))
  for (const s of servers) await s.call('seed', { channels: plan.channels, invisible: plan.ids })
  const gen = await startGen()
  let failed = 0
  for (let i = 0; i < instances; i++) {
    const mine = plan.ids.filter((_, k) => k % instances === i)
    const r = await gen.call('connect', { base: base(servers[i].port), proto: PROTO[name], users: mine, tokens: tokens(mine), concurrency: 50 })
    failed += r.failed
  }
  const serverPids = [...servers.map((s) => s.pid), ...(redis ? [redis.pid] : [])]
  await sleep(300)
  const flood = await gen.call('typing', { mode: 'flood', senders: plan.senders, durationMs: cfg.floodMs, warmMs: cfg.warmMs, serverPids })
  if (rateHolder.rate === undefined) rateHolder.rate = flood.deliveriesPerSec / 2 / (cfg.channelSize - 1)
  await sleep(500)
  const rate = await gen.call('typing', { mode: 'rate', rate: rateHolder.rate, senders: plan.senders, durationMs: cfg.rateMs, warmMs: cfg.warmMs, serverPids })
  await gen.call('close')
  await gen.stop()
  for (const s of servers) await s.stop()
  await redis?.stop()
  return { flood, rate, failed, offeredDeliveriesPerSec: rateHolder.rate * (cfg.channelSize - 1) }
}

// ---- scenario 3: presence broadcast --------------------------------------
async function presenceRun(name) {
  const idle = users(0, cfg.presenceUsers)
  const announcers = users(cfg.presenceUsers, cfg.announcers)
  const server = await startServer(name)
  await server.call('seed', { channels: [], invisible: idle })
  const gen = await startGen()
  const a = await gen.call('connect', { base: base(server.port), proto: PROTO[name], users: announcers, tokens: tokens(announcers), concurrency: 50 })
  const b = await gen.call('connect', { base: base(server.port), proto: PROTO[name], users: idle, tokens: tokens(idle), concurrency: 50 })
  await sleep(500)
  const serverPids = [server.pid]
  const seq = await gen.call('presence', { mode: 'sequential', announcers, count: cfg.seqUpdates, serverPids })
  const flood = await gen.call('presence', { mode: 'flood', announcers, durationMs: cfg.floodMs, warmMs: cfg.warmMs, serverPids })
  await gen.call('close')
  await gen.stop()
  await server.stop()
  return { seq, flood, failed: a.failed + b.failed }
}

// ---- the runs, alternating -----------------------------------------------
const results = { quick, startedAt: new Date().toISOString(), cfg, runs: {} }
async function scenario(key, fn, names = serverNames) {
  if (!only.includes(key)) return
  results.runs[key] = Object.fromEntries(names.map((n) => [n, []]))
  for (let r = 0; r < cfg.runs; r++) {
    for (const name of rotate(names, r)) {
      const out = await fn(name, r)
      results.runs[key][name].push(out)
      log(key, `run ${r + 1}`, name, JSON.stringify(out))
    }
  }
}

if (!quick || !process.env.BENCH_NO_BUILD) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
const rates = { single: {}, redis: {} }
// The offered load of the latency phase is half the plain-ws saturation of the
// first round, so plain-ws goes first in it (and in every later round, rotated).
await scenario('idle', idleRun)
await scenario('typing', (name) => typingRun(name, name === 'plain-ws' || rates.single.rate !== undefined ? rates.single : { rate: undefined }))
await scenario('presence', presenceRun)
await scenario('redis', (name) => typingRun(name, name === 'plain-ws' || rates.redis.rate !== undefined ? rates.redis : { rate: undefined }, 2), serverNames.filter((n) => n !== 'socket.io'))

// ---- the table ------------------------------------------------------------
const get = (key, name, path) => median((results.runs[key]?.[name] ?? []).map((run) => path.split('.').reduce((o, k) => o?.[k], run)))
const rows = [
  ['idle', `KiB per idle connection at ${cfg.idle[0]}`, 'kibPerConnSmall', 1],
  ['idle', `KiB per idle connection at ${cfg.idle[1]}`, 'kibPerConnLarge', 1],
  ['idle', 'server CPU µs per accepted connection (incl. token)', 'cpuUsPerConn', 0],
  ['typing', 'typing: saturation deliveries/s', 'flood.deliveriesPerSec', 0],
  ['typing', 'typing: server CPU µs per delivery at saturation', 'flood.serverCpuUsPerDelivery', 2],
  ['typing', 'typing: server CPU µs per delivery at half plain-ws saturation', 'rate.serverCpuUsPerDelivery', 2],
  ['typing', 'typing: p50 latency ms at half plain-ws saturation', 'rate.p50', 2],
  ['typing', 'typing: p99 latency ms at half plain-ws saturation', 'rate.p99', 2],
  ['typing', 'typing: messages lost (sum of runs)', 'lostTyping', 0],
  ['presence', `presence: time to last of ${cfg.presenceUsers + cfg.announcers - 1} recipients p50 ms`, 'seq.p50', 1],
  ['presence', 'presence: time to last recipient p99 ms', 'seq.p99', 1],
  ['presence', 'presence: saturation deliveries/s', 'flood.deliveriesPerSec', 0],
  ['presence', 'presence: server CPU µs per delivery at saturation', 'flood.serverCpuUsPerDelivery', 2],
  ['presence', 'presence: messages lost (sum of runs)', 'lostPresence', 0],
  ['redis', '2 instances + Redis, typing: saturation deliveries/s', 'flood.deliveriesPerSec', 0],
  ['redis', '2 instances + Redis: server CPU µs per delivery at half plain-ws saturation (both instances + Redis)', 'rate.serverCpuUsPerDelivery', 2],
  ['redis', '2 instances + Redis: p50 latency ms', 'rate.p50', 2],
  ['redis', '2 instances + Redis: p99 latency ms', 'rate.p99', 2],
  ['redis', '2 instances + Redis: messages lost (sum of runs)', 'lostTyping', 0],
  ['typing', 'generator CPU % during typing saturation (max of runs)', 'genTyping', 0],
]
for (const key of ['typing', 'redis', 'presence']) {
  for (const runs of Object.values(results.runs[key] ?? {})) {
    for (const run of runs) {
      run.lostTyping = (run.flood?.lost ?? 0) + (run.rate?.lost ?? 0)
      run.lostPresence = (run.seq?.lost ?? 0) + (run.flood?.lost ?? 0)
      run.genTyping = run.flood?.genCpuPct
    }
  }
}
const fmt = (v, d) => (Number.isFinite(v) ? v.toFixed(d) : '–')
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : '–')
const sum = (key, name, path) => (results.runs[key]?.[name] ?? []).reduce((s, run) => s + (run[path] ?? 0), 0)
const withBefore = serverNames.includes('roomler-before')
const lines = [
  `| figure | roomler | plain ws | Socket.IO | roomler / plain ws | roomler / Socket.IO |${withBefore ? ' roomler before |' : ''}`,
  `|---|---:|---:|---:|---:|---:|${withBefore ? '---:|' : ''}`,
]
for (const [key, label, path, digits] of rows) {
  if (!results.runs[key]) continue
  const isSum = path.startsWith('lost')
  const v = (n) => (isSum ? sum(key, n, path) : path === 'genTyping' ? Math.max(...(results.runs[key]?.[n] ?? []).map((r) => r.genTyping ?? NaN)) : get(key, n, path))
  const [ro, pw, sio, before] = ['roomler', 'plain-ws', 'socket.io', 'roomler-before'].map(v)
  lines.push(`| ${label} | ${fmt(ro, digits)} | ${fmt(pw, digits)} | ${fmt(sio, digits)} | ${isSum ? '' : ratio(ro, pw)} | ${isSum ? '' : ratio(ro, sio)} |${withBefore ? ` ${fmt(before, digits)} |` : ''}`)
}
const table = lines.join('\n')
const cpuModel = cpus()[0]?.model ?? 'unknown'
const header = `Run ${results.startedAt}${quick ? ' (quick: small counts, one run, figures meaningless)' : ''}; ${cfg.runs} alternating run(s) per figure, medians; ${cpus().length} × ${cpuModel}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; server pinned to CPU ${pinned ? SERVER_CPU : '-'}, generator to CPU ${pinned ? GEN_CPU : '-'}; took ${((Date.now() - started) / 1000).toFixed(0)} s.`
mkdirSync(join(here, 'results'), { recursive: true })
const suffix = arg('name') ?? (quick ? 'quick' : 'latest')
writeFileSync(join(here, 'results', `${suffix}.json`), JSON.stringify(results, null, 2))
writeFileSync(join(here, 'results', `${suffix}.md`), `${header}\n\n${table}\n`)
if (!quick && !arg('only') && !arg('servers')) {
  const path = join(root, 'BENCHMARKS.md')
  let doc = ''
  try {
    doc = readFileSync(path, 'utf8')
  } catch {}
  const start = '<!-- bench:table:start -->'
  const end = '<!-- bench:table:end -->'
  const block = `${start}\n${header}\n\n${table}\n${end}`
  doc = doc.includes(start) ? doc.replace(new RegExp(`${start}[\\s\\S]*${end}`), block) : `${doc}\n${block}\n`
  writeFileSync(path, doc)
}
console.log(`\n${header}\n\n${table}`)
// A quick run fails only if the run itself broke: a connection refused, or nothing delivered.
const broken = Object.entries(results.runs).flatMap(([key, byName]) =>
  Object.entries(byName).flatMap(([name, runs]) => runs.filter((r) => r.failed > 0 || r.flood?.deliveries === 0 || r.connected === 0).map(() => `${key}/${name}`)),
)
if (broken.length > 0) {
  console.error(`bench: broken runs: ${broken.join(', ')}`)
  process.exitCode = 1
}
killAll()
