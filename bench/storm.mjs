// node bench/storm.mjs [--clients=500,2000] [--events=300]
// A reconnect storm: one instance over Redis (bench/servers/roomler.mjs from
// dist/, or BENCH_DIST), `events` application events published (to channels
// of 10 in turn, or `--to=everyone`), then `clients` WebSocket clients open at
// once with `?since=` the offset before them. Prints how many resumes
// recovered, and how long until every `connected` and until every replay
// (each client's last expected event) was in. Loopback, bounded: every
// client either gets its events or is counted out after 60 s; every process
// started is stopped by its PID. Server on one core, this generator on the other.
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { createRequire } from 'node:module'
import { channelId, signToken, userId } from './lib/common.mjs'
import { SERVER_CPU, killAll, startNode, startRedis } from './lib/procs.mjs'

const WebSocket = createRequire(import.meta.url)('ws')
const here = dirname(fileURLToPath(import.meta.url))
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback
const clientCounts = arg('clients', '500,2000').split(',').map(Number)
const eventCount = Number(arg('events', '300'))
const toEveryone = arg('to', 'channels') === 'everyone'
const CHANNEL_SIZE = 10
const GIVE_UP_MS = 60_000

process.on('exit', killAll)

function open(port, user, since) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${signToken(user)}${since ? `&since=${encodeURIComponent(since)}` : ''}`)
  const client = { ws, connected: null, events: 0, connectedAt: 0, doneAt: 0 }
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString())
    if (m.type === 'connected') {
      client.connected = m.data
      client.connectedAt = performance.now()
    } else if (m.offset !== undefined) client.events++
  })
  ws.on('error', () => {})
  return client
}

async function storm(clients) {
  const redis = await startRedis()
  const server = await startNode(here, 'servers/roomler.mjs', SERVER_CPU, { BENCH_REDIS_URL: redis.url, BENCH_RECOVERY_EVENTS: String(Math.max(1000, eventCount)) }, [])
  try {
    const ids = Array.from({ length: clients }, (_, i) => userId(i))
    const channels = Array.from({ length: Math.ceil(clients / CHANNEL_SIZE) }, (_, c) => [channelId(c), ids.slice(c * CHANNEL_SIZE, (c + 1) * CHANNEL_SIZE)])
    await server.call('seed', { channels, invisible: [] })
    const first = open(server.port, ids[0])
    while (!first.connected) await new Promise((r) => setTimeout(r, 10))
    const since = first.connected.offset
    first.ws.close()
    if (toEveryone) await server.call('publish', { users: ids, count: eventCount })
    else await server.call('publish', { channels: channels.map(([c]) => c), count: eventCount })
    // Each client's expected count: everyone, or the events of its channel.
    const expected = ids.map((_, i) => (toEveryone ? eventCount : Math.floor(eventCount / channels.length) + (Math.floor(i / CHANNEL_SIZE) < eventCount % channels.length ? 1 : 0)))
    // Let the reader deliver the last of them before the storm.
    await new Promise((r) => setTimeout(r, 500))
    const started = performance.now()
    const all = ids.map((id) => open(server.port, id, since))
    const deadline = started + GIVE_UP_MS
    for (;;) {
      const done = all.every((c, i) => c.connected && (c.connected.recovered !== true || c.events >= expected[i]))
      if (done || performance.now() > deadline) break
      await new Promise((r) => setTimeout(r, 10))
    }
    for (const [i, c] of all.entries()) if (c.connected?.recovered === true && c.events >= expected[i]) c.doneAt ||= performance.now()
    const recovered = all.filter((c) => c.connected?.recovered === true).length
    const connectedMs = Math.max(...all.map((c) => c.connectedAt - started))
    const replayedMs = performance.now() - started
    for (const c of all) c.ws.terminate()
    return { clients, events: eventCount, to: toEveryone ? 'everyone' : `channels of ${CHANNEL_SIZE}`, recovered, notRecovered: clients - recovered, allConnectedMs: Math.round(connectedMs), allReplayedMs: Math.round(replayedMs) }
  } finally {
    await server.stop()
    await redis.stop()
  }
}

for (const clients of clientCounts) console.log(JSON.stringify(await storm(clients)))
