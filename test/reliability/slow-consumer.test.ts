/**
 * Slow consumer (contract section 6, MAX_BUFFERED_BYTES): one client stops
 * reading while several others receive a stream the host pushes to everyone.
 * The others get every event, in order; the server holds at most
 * MAX_BUFFERED_BYTES (plus the event that crossed it) for the slow one, then
 * closes it with 1013; the slow one, once it reads again, gets everything it
 * was sent and then that close. Latency and heap are measured and recorded,
 * not asserted: timing belongs in benchmarks.
 *
 * The readers here are bare `ws` clients that count and time the stream
 * without keeping it, so that the heap figures are the server's, not a copy
 * of the stream held by the test.
 */
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { WAIT_MS, build, eventually, objectId, type BuiltApp } from '../helper.js'
import { recordFigures } from './record.js'
import { internalsOf } from '../../plugins/internals.js'

const MAX_BUFFERED_BYTES = 256 * 1024
/** The stream is bounded whatever happens. */
const MAX_EVENTS = 20_000
/** Events pushed between turns of the event loop. */
const BATCH = 200
const READERS = 4
/** Events pushed before the slow client connects, and after it is gone. */
const BASELINE_EVENTS = 2_000
const AFTER_EVENTS = 2_000
const PAD = 'x'.repeat(960)
const TICK = 'stream:tick'
/** The slow one must read again before the server's 10 s grace cuts its socket. */
const RESUME_WITHIN_MS = 8_000

/** A reader of the stream: checks order and times each event, keeps none of them. */
class StreamReader {
  readonly socket: WebSocket
  ticks = 0
  firstSeq = -1
  lastSeq = -1
  /** Events that did not follow the previous one by exactly one. */
  outOfOrder = 0
  /** Milliseconds from push to receipt, by sequence number. */
  readonly latencyMs = new Float64Array(MAX_EVENTS).fill(Number.NaN)
  readonly connected: Promise<void>
  readonly closed: Promise<{ code: number; reason: string }>
  #pongs: Array<() => void> = []

  constructor(wsUrl: string, token: string) {
    this.socket = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`)
    let onConnected: () => void = () => {}
    this.connected = new Promise<void>((resolve, reject) => {
      onConnected = resolve
      this.socket.once('error', reject)
      this.socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)))
    })
    this.closed = new Promise((resolve) => this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    this.socket.on('message', (data) => {
      const at = performance.now()
      const message = JSON.parse(data.toString()) as { type: string; data: Record<string, any> }
      if (message.type === TICK) {
        const seq = message.data.seq as number
        if (this.lastSeq !== -1 && seq !== this.lastSeq + 1) this.outOfOrder++
        if (this.firstSeq === -1) this.firstSeq = seq
        this.lastSeq = seq
        this.ticks++
        this.latencyMs[seq] = at - (message.data.sent_at as number)
      } else if (message.type === 'connected') {
        onConnected()
      } else if (message.type === 'pong') {
        for (const wake of this.#pongs.splice(0)) wake()
      }
    })
  }

  /** A ping answered: the server still serves this connection. */
  async roundTrip(timeoutMs = WAIT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      new Promise<void>((resolve) => {
        this.#pongs.push(resolve)
        this.socket.send(JSON.stringify({ type: 'ping' }))
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no pong within ${timeoutMs} ms`)), timeoutMs)
      }),
    ]).finally(() => clearTimeout(timer))
  }

  /** Stops reading: the kernel buffers fill, then the server's. */
  pause(): void {
    ;(this.socket as any)._socket.pause()
  }

  resume(): void {
    ;(this.socket as any)._socket.resume()
  }
}

async function reader(t: Test, built: BuiltApp, userId: string): Promise<StreamReader> {
  const client = new StreamReader(built.wsUrl, built.token(userId))
  t.teardown(() => client.socket.terminate())
  await client.connected
  return client
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

/** Full garbage collection, so heap figures compare live data. */
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
function heapMiB(): number {
  gc()
  return round(process.memoryUsage().heapUsed / 2 ** 20)
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

t.test('a client that stops reading is closed with 1013 while every other reader gets every event in order', async (t) => {
  const built = await build(t, { realtime: { maxBufferedBytes: MAX_BUFFERED_BYTES } })
  const { app } = built
  const readerIds = Array.from({ length: READERS }, () => objectId())
  const readers: StreamReader[] = []
  for (const id of readerIds) readers.push(await reader(t, built, id))
  for (const r of readers) await r.roundTrip()

  let seq = 0
  const eventBytes = Buffer.byteLength(JSON.stringify({ type: TICK, data: { seq: MAX_EVENTS, sent_at: performance.now(), pad: PAD } }))
  let peakHeap = 0
  /** Pushes up to `limit` events to everyone; `after` runs after each and may stop the stream. */
  async function pump(limit: number, after: () => boolean = () => false): Promise<void> {
    const end = Math.min(seq + limit, MAX_EVENTS)
    while (seq < end) {
      app.wsDispatcher.toEveryone({ type: TICK, data: { seq, sent_at: performance.now(), pad: PAD } })
      seq++
      if (after()) return
      if (seq % BATCH === 0) {
        peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
  }

  // Without a slow client.
  const heapBefore = heapMiB()
  const baselineFrom = seq
  await pump(BASELINE_EVENTS)
  const baselineTo = seq
  await eventually(() => readers.every((r) => r.ticks === baselineTo), WAIT_MS, 'the baseline stream reached every reader')

  // The slow client: connected, then never reads.
  const slowId = objectId()
  const slow = await reader(t, built, slowId)
  slow.pause()
  const slowFrom = seq
  let peakBuffered = 0
  let crossedAt = -1
  let closedAt = 0
  await pump(MAX_EVENTS, () => {
    for (const connection of app.wsRegistry.senders(slowId)) {
      peakBuffered = Math.max(peakBuffered, connection.socket.bufferedAmount)
      if (connection.closed) {
        crossedAt = seq - 1
        closedAt = performance.now()
        return true
      }
    }
    return false
  })
  const slowTo = seq
  t.ok(crossedAt >= 0, `the server closed the slow client before the stream's bound (after ${slowTo - slowFrom} events)`)
  const slowConnection = [...app.wsRegistry.senders(slowId)][0]
  t.equal(slowConnection?.closeReason, 'slow_consumer', 'closed as a slow consumer')
  // What the server holds for it: at most the limit, plus the event that crossed it and the close frame.
  const closeFrameBytes = 2 + 2 + Buffer.byteLength('too much unread output')
  t.ok(
    peakBuffered <= MAX_BUFFERED_BYTES + eventBytes + 4 + closeFrameBytes,
    `its unsent output peaked at ${peakBuffered} bytes, within ${MAX_BUFFERED_BYTES} + one ${eventBytes}-byte event`,
  )

  // It reads again, promptly: everything it was sent arrives, then the close.
  slow.resume()
  const closed = await withTimeout(slow.closed, RESUME_WITHIN_MS, 'the slow client saw no close')
  const closeSeenMs = performance.now() - closedAt
  t.equal(closed.code, 1013, 'its close code is 1013 (try again later)')
  t.equal(slow.firstSeq, slowFrom, 'it got the stream from where it joined')
  t.equal(slow.lastSeq, crossedAt, 'up to the event that crossed the limit')
  t.equal(slow.outOfOrder, 0, 'in order, with no gap')
  t.equal(slow.ticks, crossedAt - slowFrom + 1, 'every event it was sent before the close')
  await eventually(() => !app.wsRegistry.has(slowId), WAIT_MS, 'the slow client left the registry')
  t.equal(internalsOf(app).realtimeMetrics.closes.get('slow_consumer'), 1, 'one slow consumer closed')
  const metrics = await (await fetch(`${built.url}/metrics`)).text()
  t.match(metrics, /roomler_connections_closed_total\{reason="slow_consumer"\} 1\n/, '/metrics counts it')

  // The stream goes on after it is gone.
  const afterFrom = seq
  await pump(AFTER_EVENTS)
  const total = seq
  await eventually(() => readers.every((r) => r.ticks === total), WAIT_MS * 2, 'every event reached every reader')
  for (const [i, r] of readers.entries()) {
    t.same(
      { first: r.firstSeq, last: r.lastSeq, count: r.ticks, outOfOrder: r.outOfOrder },
      { first: 0, last: total - 1, count: total, outOfOrder: 0 },
      `reader ${i + 1} got all ${total} events in order`,
    )
  }
  for (const r of readers) await r.roundTrip()
  t.ok(
    readers.every((r) => r.socket.readyState === WebSocket.OPEN),
    'every reader is still connected and answered',
  )
  t.equal(internalsOf(app).realtimeMetrics.closes.get('slow_consumer'), 1, 'no reader was taken for a slow consumer')
  const heapAfter = heapMiB()

  const latencies = (from: number, to: number) => {
    const values: number[] = []
    for (const r of readers) for (let s = from; s < to; s++) values.push(r.latencyMs[s]!)
    return { p50: round(percentile(values, 50)), p99: round(percentile(values, 99)) }
  }
  const without = latencies(baselineFrom, baselineTo)
  const withSlow = latencies(slowFrom, slowTo)
  const after = latencies(afterFrom, total)
  const figures = {
    readers: READERS,
    event_bytes: eventBytes,
    max_buffered_bytes: MAX_BUFFERED_BYTES,
    events_total: total,
    events_until_slow_close: crossedAt - slowFrom + 1,
    slow_peak_buffered_bytes: peakBuffered,
    slow_close_code: closed.code,
    slow_close_seen_after_resume_ms: round(closeSeenMs),
    latency_without_slow_p50_ms: without.p50,
    latency_without_slow_p99_ms: without.p99,
    latency_with_slow_p50_ms: withSlow.p50,
    latency_with_slow_p99_ms: withSlow.p99,
    latency_after_slow_p50_ms: after.p50,
    latency_after_slow_p99_ms: after.p99,
    heap_before_mib: heapBefore,
    heap_peak_mib: round(peakHeap / 2 ** 20),
    heap_after_mib: heapAfter,
  }
  t.comment(JSON.stringify(figures))
  recordFigures('slow-consumer', {
    tried: `${READERS} readers and one client that stopped reading, a stream of ${total} events of ${eventBytes} bytes pushed to everyone, MAX_BUFFERED_BYTES ${MAX_BUFFERED_BYTES}`,
    held: `every reader got every event in order; the slow client was closed with 1013 after ${crossedAt - slowFrom + 1} events, its unsent output never above the limit plus one event (${peakBuffered} bytes)`,
    figures,
  })
})
