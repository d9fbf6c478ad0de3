/**
 * Bad input (issue 3, reliability suite): frames over MAX_PAYLOAD_BYTES,
 * text and binary, whole and fragmented, close their connection with 1009;
 * a frame at the limit is answered; a text frame that is not UTF-8 closes
 * with 1007; everyone else is served throughout. The sizes are drawn with
 * fast-check (FUZZ_SEED reruns one draw).
 */
import t from 'tap'
import fc from 'fast-check'
import { eventually, objectId } from '../helper.js'
import { recordFigures } from './record.js'
import { MAX_PAYLOAD, SEED } from './fuzz/frames.js'
import { setup } from './fuzz/service.js'
import { internalsOf } from '../../plugins/internals.js'

t.test('frames over MAX_PAYLOAD_BYTES close with 1009; everyone else keeps being served', async (t) => {
  const started = Date.now()
  const { built, userId } = await setup(t, 'fuzz_payload')
  const bystander = await built.connect(objectId())
  await bystander.sync()
  const closes: Record<string, number> = {}
  let oversized = 0

  // At the limit: answered (an error, since the padding is not a field), not closed.
  const client = await built.connect(userId)
  await bystander.sync()
  const padding = MAX_PAYLOAD - JSON.stringify({ type: 'ping', data: { p: '' } }).length
  const atLimit = JSON.stringify({ type: 'ping', data: { p: 'x'.repeat(padding) } })
  t.equal(Buffer.byteLength(atLimit), MAX_PAYLOAD, 'a frame of exactly MAX_PAYLOAD_BYTES')
  client.send(atLimit)
  const [answer, ...rest] = await client.sync()
  t.equal(answer?.data.code, 'invalid_message', 'is read and answered')
  t.same(rest, [], 'with one error')
  await client.close()

  const cases = fc.sample(
    fc.record({
      size: fc.oneof(fc.constant(MAX_PAYLOAD + 1), fc.integer({ min: MAX_PAYLOAD + 1, max: 4 * MAX_PAYLOAD }), fc.integer({ min: 4 * MAX_PAYLOAD, max: 1 << 20 })),
      binary: fc.boolean(),
      fragments: fc.integer({ min: 1, max: 8 }),
    }),
    { numRuns: 16, seed: SEED },
  )
  for (const { size, binary, fragments } of cases) {
    const big = await built.connect(userId)
    const body = Buffer.alloc(size, 'a')
    if (fragments === 1) big.socket.send(binary ? body : body.toString(), { binary })
    else {
      // Each fragment under the limit, the message over it.
      const step = Math.ceil(size / fragments)
      for (let at = 0; at < size; at += step) big.socket.send(body.subarray(at, at + step), { binary, fin: at + step >= size })
    }
    const { code } = await big.closed
    closes[String(code)] = (closes[String(code)] ?? 0) + 1
    oversized++
    t.equal(code, 1009, `${size} bytes (${binary ? 'binary' : 'text'}, ${fragments} fragment${fragments > 1 ? 's' : ''}) closes with 1009`)
    // The bystander is served, and hears nothing but the user's presence.
    const heard = await bystander.sync()
    t.ok(heard.every((m) => m.type === 'presence:update' && m.data.user_id === userId), 'the bystander is served and hears only presence')
  }

  // Invalid UTF-8 in a text frame is a WebSocket protocol error (RFC 6455 §8.1): 1007, never a crash.
  const utf8 = await built.connect(userId)
  utf8.socket.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false })
  const { code: utf8Code } = await utf8.closed
  closes[String(utf8Code)] = (closes[String(utf8Code)] ?? 0) + 1
  t.equal(utf8Code, 1007, 'a text frame that is not UTF-8 closes with 1007')

  await bystander.sync()
  t.equal(bystander.closeCode, undefined, 'the bystander is still connected')
  await eventually(() => built.app.wsRegistry.senders(userId).size === 0, undefined, 'closed connections leave the registry')
  t.equal(internalsOf(built.app).realtimeMetrics.closes.get('payload_too_big'), oversized, '/metrics counts each as payload_too_big')
  t.equal((await fetch(`${built.url}/health`)).status, 200, 'the service still answers /health')

  recordFigures('fuzz-payload', {
    tried: `${oversized} frames over MAX_PAYLOAD_BYTES (${MAX_PAYLOAD}), text and binary, whole and fragmented, up to 1 MiB; one frame at the limit; one text frame that is not UTF-8`,
    held: t.passing()
      ? 'each oversized frame closed its connection with 1009 and was counted as payload_too_big; the frame at the limit was answered; a bystander was served throughout'
      : 'NOT ALL HELD: see the test output of this run',
    figures: {
      oversized_frames: oversized,
      largest_frame_bytes: Math.max(...cases.map((c) => c.size)),
      // @fastify/websocket's default handler logs each of these client errors at level error.
      error_log_lines: built.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50).length,
      ...Object.fromEntries(Object.entries(closes).map(([code, n]) => [`closes_${code}`, n])),
      duration_ms: Date.now() - started,
    },
  })
})
