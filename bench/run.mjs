// npm run bench [-- --quick] [-- --only=idle,typing,presence,instances,events,presence-scope,host] [-- --servers=roomler,plain-ws,uws,centrifugo]
// Runs every scenario against the service and its yardsticks (plain ws,
// Socket.IO, uWebSockets.js, Centrifugo), alternating, each figure the median
// of the runs; writes bench/results/latest.{json,md} and (full runs) the table
// and the targets in BENCHMARKS.md. Server on one core, generators on the
// other (taskset). Every process it starts is stopped by its PID.
// `--render=<results.json>` prints the table and targets of a saved run.
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { cpus, totalmem } from 'node:os'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { channelId, cpuMicros, rssBytes, signToken, userId } from './lib/common.mjs'
import { GEN_CPU, SERVER_CPU, freePort, killAll, pinned, sleep, startNode, startRedis, track } from './lib/procs.mjs'
import { buildCentrifugo, centrifugoBuilt, startCentrifugo } from './lib/centrifugo.mjs'
import { renderTable, renderTargets, writeBlocks } from './lib/table.mjs'
import { renderEvents } from './lib/events-table.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const arg = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]

// The embedding cost for a host API (issue 14): a scenario of its own, bench/host.mjs.
if (arg('only') === 'host') await import('./host.mjs')

if (arg('render')) {
  const saved = JSON.parse(readFileSync(arg('render'), 'utf8'))
  console.log(`${renderTable(saved)}\n\n${renderTargets(saved)}`)
  process.exit(0)
}

const only = (arg('only')?.split(',') ?? ['idle', 'typing', 'presence', 'instances', 'events']).map((k) => (k === 'redis' ? 'instances' : k))
const ALL_SERVERS = ['plain-ws', 'roomler', 'socket.io', 'uws', 'centrifugo']
// Steps of the typing ramp, as multiples of the plain-ws saturation (events/s) of the first round; 0.5 is "the same offered load".
const RAMP = [0.25, 0.5, 1, 1.5]
const cfg = quick
  ? { runs: 1, scopeUsers: 300, scopeWatch: 50, scopeUpdates: 20, idle: [100, 300], typingUsers: 100, channelSize: 10, presenceUsers: 200, announcers: 4, seqUpdates: 5, settleMs: 300, warmMs: 200, floodMs: 500, stepWarmMs: 100, stepMs: 300, ramp: RAMP, instances: [1, 2, 4], instWarmMs: 100, instFloodMs: 300, instRateMs: 300, eventUsers: 200, eventCount: 100, broadcastUsers: 200, broadcastCount: 20, eventInstances: [1] }
  : { runs: 3, scopeUsers: 19000, scopeWatch: 50, scopeUpdates: 400, idle: [5000, 19000], typingUsers: 2000, channelSize: 50, presenceUsers: 5000, announcers: 20, seqUpdates: 40, settleMs: 1000, warmMs: 1000, floodMs: 4000, stepWarmMs: 500, stepMs: 3000, ramp: RAMP, instances: [1, 2, 4], instWarmMs: 500, instFloodMs: 2000, instRateMs: 3000, eventUsers: 2000, eventCount: 4000, broadcastUsers: 1000, broadcastCount: 200, eventInstances: [1, 2] }
if (arg('runs')) cfg.runs = Number(arg('runs'))
// A guard against a run that hangs, not its budget: a full run takes about 18.5 minutes here.
const RUN_DEADLINE_MS = quick ? 5 * 60_000 : 25 * 60_000
const started = Date.now()
const log = (...a) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s]`, ...a)
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

// What each server is and can do: presence needs the contract's presence (Centrifugo is configured without it);
// `redis`: it runs as many instances over Redis.
const SERVERS = {
  'plain-ws': { file: 'servers/plain-ws.mjs', proto: 'plain', presence: true, redis: true },
  roomler: { file: 'servers/roomler.mjs', proto: 'plain', presence: true, redis: true, prof: true },
  // The service built from another tree (BENCH_BEFORE_DIST, relative to bench/servers), for before/after runs.
  'roomler-before': { file: 'servers/roomler.mjs', proto: 'plain', presence: true, redis: true, prof: true, env: { BENCH_DIST: process.env.BENCH_BEFORE_DIST ?? '../../.cache/dist-before' } },
  // The same build with the metrics' hot-path calls made no-ops: beside `roomler`, what counting costs.
  'roomler-nometrics': { file: 'servers/roomler.mjs', proto: 'plain', presence: true, redis: true, prof: true, env: { BENCH_NO_METRICS: '1' } },
  'socket.io': { file: 'servers/socketio.mjs', proto: 'sio', presence: true },
  uws: { file: 'servers/uws.mjs', proto: 'plain', presence: true },
  centrifugo: { proto: 'centrifugo' },
}
const asked = arg('servers')?.split(',') ?? ALL_SERVERS
for (const name of asked) if (!SERVERS[name]) throw new Error(`unknown server ${name}; known: ${Object.keys(SERVERS).join(', ')}`)
// plain-ws first: the offered loads of the ramp and of the instances are its saturation in the first round.
const wanted = [...asked.filter((n) => n === 'plain-ws'), ...asked.filter((n) => n !== 'plain-ws')]
const skipped = {}
const prepStarted = Date.now()

// BENCH_NO_BUILD=1: use dist/ as it is (the smoke test's scripts/test.sh built it).
if (!process.env.BENCH_NO_BUILD) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
if (wanted.includes('uws')) {
  try {
    createRequire(join(here, 'servers', 'uws.mjs')).resolve('uwebsockets')
  } catch {
    skipped.uws = 'the npm package uwebsockets is not installed (npm ci installs it)'
  }
}
if (wanted.includes('centrifugo') && !centrifugoBuilt(root)) {
  // The quick run (CI) never waits for a Go build unless Centrifugo was asked for by name.
  if (quick && !arg('servers')) skipped.centrifugo = 'not built, and the quick run does not build it (a full run does, once)'
  else {
    try {
      buildCentrifugo(root)
    } catch (error) {
      skipped.centrifugo = error.message
    }
  }
}
for (const [name, why] of Object.entries(skipped)) console.error(`bench: skipping ${name}: ${why}`)
const serverNames = wanted.filter((n) => !skipped[n])
const prepSeconds = (Date.now() - prepStarted) / 1000
const deadline = setTimeout(() => {
  console.error('bench: over its time budget; stopping')
  process.exit(2)
}, RUN_DEADLINE_MS)
deadline.unref()

// BENCH_CPU_PROF=<dir>: the service runs with --cpu-prof, one profile per server process.
const PROF_DIR = process.env.BENCH_CPU_PROF
async function startServer(name, env = {}) {
  const s = SERVERS[name]
  if (s.proto === 'centrifugo') return startCentrifugo(root, { port: await freePort(), core: SERVER_CPU, pin: pinned, track })
  const prof = PROF_DIR && s.prof ? ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : []
  return startNode(here, s.file, SERVER_CPU, { ...s.env, ...env }, ['--expose-gc', ...prof])
}
const startGen = () => startNode(here, 'gen.mjs', GEN_CPU, {}, ['--max-old-space-size=2048'])

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
    return Promise.all(parts.map(([a, b], g) => gens[g].call('connect', { base: base(server.port), proto: SERVERS[name].proto, users: ids.slice(a, b), tokens: tokens(ids.slice(a, b)), concurrency: 400 })))
  }
  const cpu0 = cpuMicros(server.pid)
  const r1 = await connectSlice(0, small)
  const cpu1 = cpuMicros(server.pid)
  await sleep(cfg.settleMs)
  await server.call('gc')
  await sleep(300)
  const rssSmall = rssBytes(server.pid)
  const cpu2 = cpuMicros(server.pid)
  const r2 = await connectSlice(small, large)
  const cpu3 = cpuMicros(server.pid)
  await sleep(cfg.settleMs)
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
    ...(failed > 0 ? { failReasons: [...r1, ...r2].map((r) => r.failReasons).filter(Boolean) } : {}),
  }
}

// ---- the channels, and connecting them to one or more instances ----------
function channelPlan(count, size) {
  const ids = users(0, count)
  const channels = []
  for (let c = 0; c * size < count; c++) channels.push([channelId(c), ids.slice(c * size, (c + 1) * size)])
  const senders = channels.flatMap(([ch, list]) => list.map((u) => [u, ch, list.length - 1]))
  const channelOf = new Map(senders.map(([u, ch]) => [u, ch]))
  return { ids, channels, senders, channelOf }
}

/** Seeds every server, connects the plan's users (round-robin over the servers), returns the generator. */
async function connectPlan(name, plan, servers) {
  for (const s of servers) await s.call('seed', { channels: plan.channels, invisible: plan.ids })
  const gen = await startGen()
  let failed = 0
  for (let i = 0; i < servers.length; i++) {
    const mine = plan.ids.filter((_, k) => k % servers.length === i)
    // Centrifugo has no membership: its clients subscribe to their channel.
    const channels = SERVERS[name].proto === 'centrifugo' ? mine.map((u) => [plan.channelOf.get(u)]) : undefined
    const r = await gen.call('connect', { base: base(servers[i].port), proto: SERVERS[name].proto, users: mine, tokens: tokens(mine), channels, concurrency: 50 })
    failed += r.failed
    if (r.failReasons) log(name, 'connections failed:', JSON.stringify(r.failReasons))
  }
  await sleep(300)
  return { gen, failed }
}

// ---- scenario 2: typing fan-out, saturation then a ramp of offered load ---
const rates = {} // events/s: the plain-ws saturation of the first round, per scenario
async function typingRun(name) {
  const plan = channelPlan(cfg.typingUsers, cfg.channelSize)
  const server = await startServer(name)
  const { gen, failed } = await connectPlan(name, plan, [server])
  const serverPids = [server.pid]
  const flood = await gen.call('typing', { mode: 'flood', senders: plan.senders, durationMs: cfg.floodMs, warmMs: cfg.warmMs, serverPids })
  rates.typing ??= flood.deliveriesPerSec / (cfg.channelSize - 1)
  const steps = []
  for (const factor of cfg.ramp) {
    const rate = rates.typing * factor
    const step = await gen.call('typing', { mode: 'rate', rate, senders: plan.senders, durationMs: cfg.stepMs, warmMs: cfg.stepWarmMs, serverPids })
    steps.push({ factor, offeredDeliveriesPerSec: rate * (cfg.channelSize - 1), ...step })
  }
  await gen.call('close')
  await gen.stop()
  await server.stop()
  return { flood, steps, failed }
}

// ---- scenario 3: presence broadcast --------------------------------------
async function presenceRun(name) {
  const idle = users(0, cfg.presenceUsers)
  const announcers = users(cfg.presenceUsers, cfg.announcers)
  const server = await startServer(name)
  await server.call('seed', { channels: [], invisible: idle })
  const gen = await startGen()
  const proto = SERVERS[name].proto
  const a = await gen.call('connect', { base: base(server.port), proto, users: announcers, tokens: tokens(announcers), concurrency: 50 })
  const b = await gen.call('connect', { base: base(server.port), proto, users: idle, tokens: tokens(idle), concurrency: 50 })
  await sleep(500)
  const serverPids = [server.pid]
  const seq = await gen.call('presence', { mode: 'sequential', announcers, count: cfg.seqUpdates, serverPids })
  const flood = await gen.call('presence', { mode: 'flood', announcers, durationMs: cfg.floodMs, warmMs: cfg.warmMs, serverPids })
  await gen.call('close')
  await gen.stop()
  await server.stop()
  return { seq, flood, failed: a.failed + b.failed }
}

// ---- scenario 5: presence scope, the service alone --------------------------
// scopeUsers connected; with `subscribed` user i subscribes to the next
// scopeWatch users (so each has scopeWatch subscribers); the same
// announcers change presence one at a time under each scope. Only announcers
// are visible, so connecting announces nothing else.
async function presenceScopeRun(name, scope) {
  const ids = users(0, cfg.scopeUsers)
  const announcers = ids.slice(0, cfg.announcers)
  const server = await startServer(name, { BENCH_PRESENCE_SCOPE: scope })
  await server.call('seed', { channels: [], invisible: ids.slice(cfg.announcers) })
  const gen = await startGen()
  const proto = SERVERS[name].proto
  const c = await gen.call('connect', { base: base(server.port), proto, users: ids, tokens: tokens(ids), concurrency: 400 })
  await sleep(cfg.settleMs)
  await server.call('gc')
  await sleep(300)
  const rss0 = rssBytes(server.pid)
  let subscribed = { refused: 0 }
  const watch = scope === 'subscribed' ? cfg.scopeWatch : 0
  if (watch > 0) {
    const plan = ids.map((user, i) => [user, Array.from({ length: watch }, (_, k) => ids[(i + 1 + k) % ids.length])])
    subscribed = await gen.call('subscribe', { plan })
    await server.call('gc')
    await sleep(300)
  }
  const rss1 = rssBytes(server.pid)
  const recipients = watch > 0 ? watch : ids.length - 1
  // Under `subscribed` a change is 50 deliveries, so many more of them fill a window worth measuring (CPU time comes in 10 ms ticks).
  const count = watch > 0 ? cfg.scopeUpdates : cfg.seqUpdates
  const seq = await gen.call('presence', { mode: 'sequential', announcers, count, serverPids: [server.pid], recipients, idleBaseline: true })
  await gen.call('close')
  await gen.stop()
  await server.stop()
  return {
    scope,
    connected: c.connected,
    failed: c.failed + subscribed.refused,
    recipientsPerChange: recipients,
    bytesPerSubscription: watch > 0 ? (rss1 - rss0) / (ids.length * watch) : 0,
    subscribeMs: subscribed.ms,
    seq,
  }
}

// ---- scenario 4: n instances over one Redis, typing; CPU of all summed ----
async function instancesRun(name, n) {
  const key = `instances-${n}`
  const plan = channelPlan(cfg.typingUsers, cfg.channelSize)
  const redis = await startRedis()
  const servers = []
  for (let i = 0; i < n; i++) servers.push(await startServer(name, { BENCH_REDIS_URL: redis.url }))
  const { gen, failed } = await connectPlan(name, plan, servers)
  const serverPids = [...servers.map((s) => s.pid), redis.pid]
  const flood = await gen.call('typing', { mode: 'flood', senders: plan.senders, durationMs: cfg.instFloodMs, warmMs: cfg.instWarmMs, serverPids })
  rates[key] ??= flood.deliveriesPerSec / 2 / (cfg.channelSize - 1)
  const rate = await gen.call('typing', { mode: 'rate', rate: rates[key], senders: plan.senders, durationMs: cfg.instRateMs, warmMs: cfg.instWarmMs, serverPids })
  await gen.call('close')
  await gen.stop()
  for (const s of servers) await s.stop()
  await redis.stop()
  return { flood, rate, failed, offeredDeliveriesPerSec: rates[key] * (cfg.channelSize - 1) }
}

// ---- scenario 5: application events, recovery (the history) on and off ---
// Published inside the server (as a host's dispatcher calls do) to channels of
// `channelSize` in turn, then each to `broadcastUsers` users at once; on one
// instance, or on n over Redis (published on the first). Server CPU (the
// instances and Redis summed) per delivery, and the heap the history holds
// per kept event (one instance: the difference with recovery off).
const cpuOf = (pids) => pids.reduce((sum, pid) => sum + cpuMicros(pid), 0)
async function eventsRun(name, recovery, n) {
  const plan = channelPlan(cfg.eventUsers, cfg.channelSize)
  const redis = n > 1 ? await startRedis() : null
  const env = { BENCH_RECOVERY_EVENTS: recovery ? String(cfg.eventCount + cfg.broadcastCount) : '0', ...(redis ? { BENCH_REDIS_URL: redis.url } : {}) }
  const servers = []
  for (let i = 0; i < n; i++) servers.push(await startServer(name, env))
  const { gen, failed } = await connectPlan(name, plan, servers)
  const pids = [...servers.map((s) => s.pid), ...(redis ? [redis.pid] : [])]
  const measure = async (body, expected) => {
    await gen.call('countStart')
    const cpu0 = cpuOf(pids)
    await servers[0].call('publish', body)
    const got = await gen.call('countWait', { expected })
    return { deliveries: got.received, lost: got.lost, serverCpuUsPerDelivery: (cpuOf(pids) - cpu0) / got.received }
  }
  const heap0 = await servers[0].call('heapUsed')
  const channels = await measure({ channels: plan.channels.map(([ch]) => ch), count: cfg.eventCount }, cfg.eventCount * cfg.channelSize)
  const heap1 = await servers[0].call('heapUsed')
  const targets = plan.ids.slice(0, cfg.broadcastUsers)
  const users = await measure({ users: targets, count: cfg.broadcastCount }, cfg.broadcastCount * targets.length)
  await gen.call('close')
  await gen.stop()
  for (const s of servers) await s.stop()
  await redis?.stop()
  return { channels, users, heapBytesPerChannelEvent: (heap1 - heap0) / cfg.eventCount, failed, lost: channels.lost + users.lost }
}

// ---- the runs, alternating -----------------------------------------------
const results = { quick, startedAt: new Date().toISOString(), cfg, servers: serverNames, skipped, rates, runs: {} }
async function scenario(key, fn, names) {
  if (names.length === 0) return
  results.runs[key] = Object.fromEntries(names.map((n) => [n, []]))
  for (let r = 0; r < cfg.runs; r++) {
    for (const name of rotate(names, r)) {
      const out = await fn(name, r)
      results.runs[key][name].push(out)
      log(key, `run ${r + 1}`, name, JSON.stringify(out))
    }
  }
}

if (only.includes('idle')) await scenario('idle', idleRun, serverNames)
if (only.includes('typing')) await scenario('typing', typingRun, serverNames)
if (only.includes('presence')) await scenario('presence', presenceRun, serverNames.filter((n) => SERVERS[n].presence))
if (only.includes('presence-scope')) {
  for (const scope of ['everyone', 'subscribed']) await scenario(`presence-scope-${scope}`, (name) => presenceScopeRun(name, scope), serverNames.filter((n) => n === 'roomler'))
}
if (only.includes('instances')) {
  for (const n of cfg.instances) await scenario(`instances-${n}`, (name) => instancesRun(name, n), serverNames.filter((s) => SERVERS[s].redis))
}
if (only.includes('events')) {
  // The service alone (and its other builds): the yardsticks have no history to compare.
  const roomler = serverNames.filter((s) => s.startsWith('roomler'))
  for (const n of cfg.eventInstances) {
    for (const recovery of [false, true]) await scenario(`events-${n}-${recovery ? 'on' : 'off'}`, (name) => eventsRun(name, recovery, n), roomler)
  }
}

// ---- the table ------------------------------------------------------------
const table = `${renderTable(results)}${only.includes('events') ? `\n\n${renderEvents(results)}` : ''}`
const targets = renderTargets(results)
const cpuModel = cpus()[0]?.model ?? 'unknown'
const skippedNote = Object.entries(skipped).map(([n, why]) => ` Skipped ${n}: ${why}.`).join('')
const header = `Run ${results.startedAt}${quick ? ' (quick: small counts, one run, figures meaningless)' : ''}; ${cfg.runs} alternating run(s) per figure, medians; ${cpus().length} × ${cpuModel}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; server pinned to CPU ${pinned ? SERVER_CPU : '-'}, generator to CPU ${pinned ? GEN_CPU : '-'}; took ${((Date.now() - started) / 1000).toFixed(0)} s (of which ${prepSeconds.toFixed(0)} s building).${skippedNote}`
mkdirSync(join(here, 'results'), { recursive: true })
const suffix = arg('name') ?? (quick ? 'quick' : 'latest')
writeFileSync(join(here, 'results', `${suffix}.json`), JSON.stringify(results, null, 2))
writeFileSync(join(here, 'results', `${suffix}.md`), `${header}\n\n${table}\n\n${targets}\n`)
if (!quick && !arg('only') && !arg('servers') && !arg('runs')) {
  writeBlocks(join(root, 'BENCHMARKS.md'), { table: `${header}\n\n${table}`, targets })
}
console.log(`\n${header}\n\n${table}\n\n${targets}`)
// A quick run fails only if the run itself broke: a connection refused, or nothing delivered.
// (A ramp step may deliver nothing inside a quick run's short window while a loaded server catches up; it counts only if nothing came at all.)
const broken = Object.entries(results.runs).flatMap(([key, byName]) =>
  Object.entries(byName).flatMap(([name, runs]) =>
    runs.filter((r) => r.failed > 0 || r.flood?.deliveries === 0 || r.connected === 0 || r.steps?.some((s) => s.received === 0)).map(() => `${key}/${name}`),
  ),
)
if (broken.length > 0) {
  console.error(`bench: broken runs: ${broken.join(', ')}`)
  process.exitCode = 1
}
killAll()
