/**
 * Write coalescing per event-loop turn (lib/connections/write-batch.ts),
 * on a real ws server and client over loopback: a Connection that is written
 * several frames in one turn hands its TCP socket two writes (the first
 * frame at once, the rest of the turn together), in order; a
 * lone frame still leaves in the same loop iteration; a close, and the
 * slow-consumer check, send what the turn held at once. Writes are counted on the server's net.Socket (its
 * `_write`/`_writev`, each one write handed to libuv), not as syscalls or
 * TCP segments, which the kernel may split or merge.
 */
import type { AddressInfo, Socket } from 'node:net'
import t, { type Test } from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { Connection } from '../../lib/connections/connection.js'
import { OutFrame } from '../../lib/connections/wire.js'
import { WAIT_MS, objectId } from '../helper.js'

const LIMITS = { maxBufferedBytes: 1 << 20, rateLimitPerSec: 1000, rateLimitBurst: 1000 }

interface Pair {
  connection: Connection
  /** Writes handed to the server's net.Socket since the pair opened (`connected` excluded). */
  writes(): number
  /** The next `count` messages the client receives, as text. */
  receive(count: number): Promise<string[]>
  closed: Promise<number>
}

/** A ws server and client over loopback; the server end wrapped in a Connection, `connected` received. */
async function pair(t: Test, limits = LIMITS): Promise<Pair> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve))
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`)
  t.teardown(() => client.terminate())
  const received: string[] = []
  let wake: (() => void) | null = null
  client.on('message', (data) => {
    received.push(data.toString())
    wake?.()
  })
  const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)))
  const socket = await accepted
  const connection = new Connection(objectId(), socket, Date.now() + 60_000, limits)
  let writes = 0
  const wire = (socket as unknown as { _socket: Socket & Record<string, Function> })._socket
  for (const method of ['_write', '_writev']) {
    const original = wire[method]!
    wire[method] = function (this: Socket, ...args: unknown[]) {
      writes++
      return original.apply(this, args)
    }
  }
  const receive = async (count: number): Promise<string[]> => {
    const timer = setTimeout(() => wake?.(), WAIT_MS)
    try {
      while (received.length < count) {
        const before = received.length
        await new Promise<void>((resolve) => (wake = resolve))
        if (received.length === before) throw new Error(`${received.length} of ${count} messages within ${WAIT_MS} ms`)
      }
      return received.splice(0, count)
    } finally {
      clearTimeout(timer)
      wake = null
    }
  }
  connection.markOpen('{"type":"connected","data":{}}')
  t.same(await receive(1), ['{"type":"connected","data":{}}'])
  writes = 0
  return { connection, writes: () => writes, receive, closed }
}

const event = (n: number) => JSON.stringify({ type: 'chat:event', data: { n } })

t.test('frames written to one socket in one turn leave in two writes, in order', async (t) => {
  const { connection, writes, receive } = await pair(t)
  const expected: string[] = []
  for (let n = 0; n < 20; n++) {
    // Events framed once for many recipients, and frames of this connection alone (a pong, an error), interleaved.
    const payload = n % 3 === 2 ? JSON.stringify({ type: 'pong', data: {} }) : event(n)
    if (n % 3 === 2) connection.sendRaw(payload)
    else connection.sendFrame(new OutFrame(payload))
    expected.push(payload)
  }
  t.same(await receive(20), expected, 'every frame, in the order written')
  t.equal(writes(), 2, 'the first frame at once, the other 19 of the turn in one write')
})

t.test('a lone frame is written at once; the second of a turn in the same loop iteration', async (t) => {
  const { connection, writes, receive } = await pair(t)
  connection.sendFrame(new OutFrame(event(1)))
  t.equal(writes(), 1, 'the first frame of a turn is not held')
  connection.sendFrame(new OutFrame(event(2)))
  t.equal(writes(), 1, 'the second is')
  const atTimer = await new Promise<number>((resolve) => setTimeout(() => resolve(writes()), 0))
  t.equal(atTimer, 2, 'and written in the check phase of the turn, before a timer set in it fires')
  t.same(await receive(2), [event(1), event(2)])
})

t.test('a turn that writes more than MAX_BUFFERED_BYTES to a peer that reads is no slow consumer', async (t) => {
  const { connection, receive } = await pair(t, { ...LIMITS, maxBufferedBytes: 64 * 1024 })
  const big = (n: number) => JSON.stringify({ type: 'chat:event', data: { n, pad: 'x'.repeat(16 * 1024) } })
  const expected: string[] = []
  for (let n = 0; n < 12; n++) {
    t.ok(connection.sendFrame(new OutFrame(big(n))) && !connection.closed, `frame ${n} written, the connection open`)
    expected.push(big(n))
  }
  t.same(await receive(12), expected, 'about 192 KiB in one turn, every frame in order')
})

t.test('a close sends what the turn held, then the close frame, without waiting for the turn to end', async (t) => {
  const { connection, writes, receive, closed } = await pair(t)
  const socket = connection.socket as unknown as { _socket: Socket }
  for (let n = 0; n < 5; n++) connection.sendFrame(new OutFrame(event(n)))
  t.equal(socket._socket.writableCorked, 1, 'held while the turn runs')
  connection.close('GOING_AWAY')
  t.equal(socket._socket.writableCorked, 0, 'no longer held once closed')
  t.equal(writes(), 2, 'the first frame at once; the other four and the close frame in one write, at once')
  t.same(await receive(5), [0, 1, 2, 3, 4].map(event), 'every frame before the close')
  t.equal(await closed, 1001, 'then the close')
})
