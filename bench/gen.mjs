// The load generator: one process (the runner starts several when one may not
// hold the sockets), driven over IPC by bench/run.mjs. Speaks the contract on
// `ws` (or Socket.IO's wire format on `ws`, for the Socket.IO baseline, or
// Centrifugo's JSON protocol: see centrifugo.mjs), connects users with real tokens, measures receipts per event, samples the
// server's CPU from /proc around its measured windows, and reports its own CPU
// and event-loop utilisation so a reader can tell when it is the limit.
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { cpuMicros, percentile } from './lib/common.mjs'
import * as centrifugo from './lib/centrifugo-client.mjs'

const conns = [] // { ws, user, proto }
let phase = null // the running measurement, or null
let errors = 0
const failReasons = new Map() // why connections failed, during one connect command
// What the server believes of each user, kept across phases: typing per user, idle per announcer.
const typingNow = new Map()
const idleNow = new Map()

function encode(conn, type, data) {
  if (conn.proto === 'centrifugo') return centrifugo.publish(conn, type, data)
  return conn.proto === 'sio' ? `42${JSON.stringify([type, data])}` : JSON.stringify({ type, data })
}

/** What a receipt means to the running phase, whatever the wire format. */
function onMessage(conn, msg) {
  switch (msg.type) {
    case 'connected':
      conn.onConnected?.()
      conn.onConnected = null
      return
    case 'typing:start':
    case 'typing:stop':
      phase?.typingReceipt?.(msg.data.user_id)
      return
    case 'presence:update':
      if (msg.data.user_id !== conn.user) phase?.presenceReceipt?.(msg.data.user_id)
      return
    case 'presence:state':
      conn.onState?.(true)
      conn.onState = null
      return
    case 'error':
      errors++
      if (msg.data.request_type === 'presence:subscribe') {
        conn.onState?.(false)
        conn.onState = null
      }
      return
    default:
      phase?.appReceipt?.()
  }
}

function onText(conn, text) {
  if (conn.proto === 'centrifugo') return centrifugo.onFrame(conn, text, onMessage)
  let msg
  if (conn.proto === 'sio') {
    const c = text.charCodeAt(0)
    if (c === 50 /* 2: engine ping */) return conn.ws.send('3')
    if (c === 48 /* 0: engine open */) return conn.ws.send('40')
    if (!text.startsWith('42')) return
    const arr = JSON.parse(text.slice(2))
    msg = { type: arr[0], data: arr[1] }
  } else msg = JSON.parse(text)
  onMessage(conn, msg)
}

const URLS = {
  plain: (base, token) => `${base}/ws?token=${token}`,
  sio: (base, token) => `${base}/socket.io/?EIO=4&transport=websocket&token=${token}`,
  centrifugo: (base) => `${base}/connection/websocket`,
}

/** One connection, resolved once the server said it is connected (and, on Centrifugo, subscribed to `channels`). */
function open(base, proto, user, token, channels = []) {
  return new Promise((resolve) => {
    const ws = new WebSocket(URLS[proto](base, token), { perMessageDeflate: false })
    const conn = { ws, user, proto, onConnected: null, onState: null }
    const timer = setTimeout(() => done(false, 'no answer in 20 s'), 20_000)
    let settled = false
    function done(ok, why) {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (!ok) {
        // Why it failed, counted by reason for the runner's log; the socket goes with it.
        failReasons.set(why, (failReasons.get(why) ?? 0) + 1)
        ws.terminate()
      }
      resolve(ok ? conn : null)
    }
    conn.onConnected = () => done(true)
    ws.on('message', (data, isBinary) => {
      if (!isBinary) onText(conn, data.toString())
    })
    ws.on('error', (error) => done(false, error.code ?? error.message))
    ws.on('close', (code) => done(false, `closed ${code}`))
    if (proto === 'centrifugo') ws.on('open', () => centrifugo.handshake(conn, token, channels, (ok) => done(ok, 'refused by a reply')))
  })
}

function usage() {
  return { cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), t: performance.now() }
}
function ownLoad(before) {
  const cpu = process.cpuUsage(before.cpu)
  const elu = performance.eventLoopUtilization(before.elu)
  const wall = performance.now() - before.t
  return { genCpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100, genElu: elu.utilization }
}
/** CPU µs of each process, and their sum. */
const cpuEach = (pids) => pids.map((pid) => cpuMicros(pid))
const total = (each) => each.reduce((sum, us) => sum + us, 0)
const serverCpu = (pids) => total(cpuEach(pids))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function connect({ base, proto, users, tokens, channels, concurrency = 100 }) {
  const before = usage()
  let next = 0
  let failed = 0
  async function lane() {
    while (next < users.length) {
      const i = next++
      const conn = await open(base, proto, users[i], tokens[i], channels?.[i])
      if (conn) conns.push(conn)
      else failed++
    }
  }
  failReasons.clear()
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, lane))
  const result = { connected: conns.length, failed, ms: performance.now() - before.t, ...ownLoad(before) }
  if (failed > 0) result.failReasons = Object.fromEntries(failReasons)
  return result
}

/** Latencies (ms) gathered in a growable typed array. */
class Samples {
  a = new Float64Array(1 << 16)
  n = 0
  push(v) {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2)
      b.set(this.a)
      this.a = b
    }
    this.a[this.n++] = v
  }
  sorted() {
    return this.a.subarray(0, this.n).sort()
  }
}

/**
 * Typing fan-out. senders: [[user, channel, expected receipts]]. `flood`: every
 * sender in a closed loop (next event once all receipts of its last one came);
 * `rate`: open loop at `rate` events/s, round-robin over idle senders.
 */
async function typing({ mode, senders, rate, durationMs, warmMs, serverPids }) {
  const byUser = new Map()
  for (const [user, channel, expected] of senders) {
    const conn = conns.find((c) => c.user === user)
    byUser.set(user, { user, conn, channel, expected, typing: typingNow.get(user) ?? false, busy: false, got: 0, sentAt: 0 })
  }
  const list = [...byUser.values()]
  const lat = new Samples()
  let expectedTotal = 0
  let received = 0
  let windowDeliveries = 0
  let inWindow = false
  let sending = true
  let skipped = 0
  let sent = 0
  function fire(s) {
    s.typing = !s.typing
    typingNow.set(s.user, s.typing)
    s.busy = true
    s.got = 0
    s.sentAt = performance.now()
    expectedTotal += s.expected
    sent++
    s.conn.ws.send(encode(s.conn, s.typing ? 'typing:start' : 'typing:stop', { channel_id: s.channel }))
  }
  phase = {
    typingReceipt(user) {
      const s = byUser.get(user)
      if (!s || !s.busy) return
      received++
      if (inWindow) {
        windowDeliveries++
        lat.push(performance.now() - s.sentAt)
      }
      if (++s.got === s.expected) {
        s.busy = false
        if (mode === 'flood' && sending) fire(s)
      }
    },
  }
  const errorsBefore = errors
  const t0 = performance.now()
  let rr = 0
  let ticker = null
  if (mode === 'flood') for (const s of list) fire(s)
  else {
    ticker = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) * rate) / 1000) - sent - skipped
      for (let k = 0; k < due; k++) {
        let s = null
        for (let tries = 0; tries < list.length; tries++) {
          const c = list[rr++ % list.length]
          if (!c.busy) {
            s = c
            break
          }
        }
        if (s) fire(s)
        else skipped++
      }
    }, 2)
  }
  await sleep(warmMs)
  const before = usage()
  // Per process too (in the instances scenario the last one is redis-server): where the summed CPU goes.
  // Read in one pass, so that the parts add up to the sum (each in 10 ms ticks: a small share moves by a tick).
  const each0 = cpuEach(serverPids)
  const cpu0 = total(each0)
  inWindow = true
  await sleep(durationMs)
  inWindow = false
  const each1 = cpuEach(serverPids)
  const cpu1 = total(each1)
  const load = ownLoad(before)
  const windowMs = performance.now() - before.t
  sending = false
  clearInterval(ticker)
  const drainUntil = performance.now() + 5000
  while (received < expectedTotal && performance.now() < drainUntil) await sleep(20)
  phase = null
  const s = lat.sorted()
  return {
    deliveriesPerSec: (windowDeliveries / windowMs) * 1000,
    deliveries: windowDeliveries,
    serverCpuUsPerDelivery: (cpu1 - cpu0) / windowDeliveries,
    serverCpuUsPerDeliveryByPid: each1.map((c, i) => (c - each0[i]) / windowDeliveries),
    serverCpuPct: ((cpu1 - cpu0) / 1000 / windowMs) * 100,
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    sent,
    skipped,
    expected: expectedTotal,
    received,
    lost: expectedTotal - received,
    errors: errors - errorsBefore,
    ...load,
  }
}

/**
 * Presence broadcast. `sequential`: `count` updates one at a time, each timed
 * to its last recipient; `flood`: every announcer in a closed loop.
 */
async function presence({ mode, announcers, count, durationMs, warmMs, serverPids, recipients, idleBaseline = false }) {
  // Everyone else, or (PRESENCE_SCOPE=subscribed) the announcer's subscribers.
  const expected = recipients ?? conns.length - 1
  const byUser = new Map()
  const connOf = new Map(conns.map((c) => [c.user, c]))
  for (const user of announcers) {
    const conn = connOf.get(user)
    byUser.set(user, { user, conn, idle: idleNow.get(user) ?? false, busy: false, got: 0, sentAt: 0, done: null })
  }
  let expectedTotal = 0
  let received = 0
  let windowDeliveries = 0
  let inWindow = false
  let sending = true
  function fire(a) {
    a.idle = !a.idle
    idleNow.set(a.user, a.idle)
    a.busy = true
    a.got = 0
    a.sentAt = performance.now()
    expectedTotal += expected
    a.conn.ws.send(encode(a.conn, 'presence:update', { presence: a.idle ? 'idle' : 'online' }))
  }
  phase = {
    presenceReceipt(user) {
      const a = byUser.get(user)
      if (!a || !a.busy) return
      received++
      if (inWindow) windowDeliveries++
      if (++a.got === expected) {
        a.busy = false
        if (a.done) a.done(performance.now() - a.sentAt)
        else if (mode === 'flood' && sending) fire(a)
      }
    },
  }
  const errorsBefore = errors
  const result = {}
  if (mode === 'sequential') {
    const times = []
    const before = usage()
    const cpu0 = serverCpu(serverPids)
    inWindow = true
    const list = [...byUser.values()]
    for (let i = 0; i < count; i++) {
      const a = list[i % list.length]
      const t = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(NaN), 10_000)
        a.done = (ms) => {
          clearTimeout(timer)
          resolve(ms)
        }
        fire(a)
      })
      a.done = null
      a.busy = false
      if (Number.isFinite(t)) times.push(t)
      await sleep(10)
    }
    inWindow = false
    const cpu1 = serverCpu(serverPids)
    times.sort((x, y) => x - y)
    Object.assign(result, { p50: percentile(times, 50), p99: percentile(times, 99), updates: count, timedOut: count - times.length, serverCpuUsPerDelivery: (cpu1 - cpu0) / windowDeliveries, serverCpuUsPerChange: (cpu1 - cpu0) / count }, ownLoad(before))
    if (idleBaseline) {
      // What the server spends with nothing sent over a window as long (heartbeats and timers of every idle
      // connection): with few deliveries per change it is a large share of the window, so the net figures leave it out.
      const windowMs = performance.now() - before.t
      const idle0 = serverCpu(serverPids)
      await sleep(windowMs)
      const idleCpu = serverCpu(serverPids) - idle0
      const net = Math.max(0, cpu1 - cpu0 - idleCpu)
      Object.assign(result, { idleCpuUsPerWindow: idleCpu, serverCpuUsPerChangeNet: net / count, serverCpuUsPerDeliveryNet: net / windowDeliveries })
    }
  } else {
    for (const a of byUser.values()) fire(a)
    await sleep(warmMs)
    const before = usage()
    const cpu0 = serverCpu(serverPids)
    inWindow = true
    await sleep(durationMs)
    inWindow = false
    const cpu1 = serverCpu(serverPids)
    const windowMs = performance.now() - before.t
    Object.assign(result, {
      deliveriesPerSec: (windowDeliveries / windowMs) * 1000,
      serverCpuUsPerDelivery: (cpu1 - cpu0) / windowDeliveries,
      serverCpuPct: ((cpu1 - cpu0) / 1000 / windowMs) * 100,
      ...ownLoad(before),
    })
    sending = false
  }
  const drainUntil = performance.now() + 5000
  while (received < expectedTotal && performance.now() < drainUntil) await sleep(20)
  phase = null
  return { ...result, deliveries: windowDeliveries, expected: expectedTotal, received, lost: expectedTotal - received, errors: errors - errorsBefore }
}

/**
 * presence:subscribe for each connection of `plan` ([user, [ids]]), in
 * messages of at most 200 ids, `concurrency` connections at a time; resolves
 * once every one was answered with presence:state.
 */
async function subscribe({ plan, concurrency = 200 }) {
  const before = usage()
  const connOf = new Map(conns.map((c) => [c.user, c]))
  let next = 0
  let refused = 0
  async function lane() {
    while (next < plan.length) {
      const [user, ids] = plan[next++]
      const conn = connOf.get(user)
      for (let i = 0; i < ids.length; i += 200) {
        const answered = new Promise((resolve) => {
          conn.onState = resolve
        })
        conn.ws.send(encode(conn, 'presence:subscribe', { user_ids: ids.slice(i, i + 200) }))
        if (!(await answered)) refused++
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, plan.length) }, lane))
  return { subscribed: plan.length, refused, ms: performance.now() - before.t, ...ownLoad(before) }
}

async function closeAll() {
  for (const c of conns) c.ws.terminate()
  conns.length = 0
  await sleep(50)
  return {}
}

/** Application events: counting starts (`countStart`) before the server publishes; `countWait` waits for `expected`. */
let appReceived = 0
function countStart() {
  appReceived = 0
  phase = { appReceipt: () => appReceived++ }
  return {}
}
async function countWait({ expected, timeoutMs = 20_000 }) {
  const until = performance.now() + timeoutMs
  while (appReceived < expected && performance.now() < until) await sleep(10)
  phase = null
  return { received: appReceived, lost: expected - appReceived }
}

const commands = { connect, typing, presence, subscribe, countStart, countWait, close: closeAll }
process.on('message', async (msg) => {
  try {
    const result = await commands[msg.cmd](msg)
    process.send({ id: msg.id, ok: true, result })
  } catch (error) {
    process.send({ id: msg.id, ok: false, error: String(error?.stack ?? error) })
  }
})
process.on('disconnect', () => process.exit(0))
process.send({ ready: true })
