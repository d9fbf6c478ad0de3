// What an idle connection holds on the heap: each server holds `--count`
// idle (invisible) connections; a heap snapshot before the first and one
// after the last, and the difference ranked by what kind of object it is
// (constructor, closure name, string, array…), in bytes per connection.
//
//   node bench/idle-heap.mjs [--servers=plain-ws,roomler] [--count=3000] [--keep=<dir>]
//
// Run `npm run build` first (the service runs from dist/; roomler-before
// from BENCH_BEFORE_DIST). Wrap it in `flock /tmp/bench.lock` as any bench run.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rssBytes, signToken, userId } from './lib/common.mjs'
import { GEN_CPU, SERVER_CPU, killAll, sleep, startNode } from './lib/procs.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const count = Number(arg('count') ?? 3000)
const servers = (arg('servers') ?? 'plain-ws,roomler').split(',')
const keep = arg('keep')
const dir = keep ? (mkdirSync(keep, { recursive: true }), keep) : mkdtempSync(join(tmpdir(), 'idle-heap-'))
const FILES = {
  'plain-ws': { file: 'servers/plain-ws.mjs' },
  roomler: { file: 'servers/roomler.mjs' },
  'roomler-before': { file: 'servers/roomler.mjs', env: { BENCH_DIST: process.env.BENCH_BEFORE_DIST ?? '../../.cache/dist-before' } },
}
process.on('exit', killAll)

/** Self size by kind of node: objects by constructor, closures by function name, the rest by type. */
function tally(path) {
  const snap = JSON.parse(readFileSync(path, 'utf8'))
  const { node_fields: fields, node_types: types } = snap.snapshot.meta
  const typeNames = types[0]
  const width = fields.length
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f))
  const nodes = snap.nodes
  const strings = snap.strings
  const sums = new Map()
  for (let i = 0; i < nodes.length; i += width) {
    const type = typeNames[nodes[i + iType]]
    const name = strings[nodes[i + iName]]
    let key
    if (type === 'object' || type === 'closure' || type === 'native') key = `${type} ${name}`
    else if (type === 'hidden' || type === 'array' || type === 'code') key = `${type} ${name.length > 60 ? name.slice(0, 60) + '…' : name}`
    else key = type
    const entry = sums.get(key) ?? { bytes: 0, count: 0 }
    entry.bytes += nodes[i + iSize]
    entry.count++
    sums.set(key, entry)
  }
  return sums
}

async function measure(name) {
  const { file, env } = FILES[name]
  const server = await startNode(here, file, SERVER_CPU, env ?? {}, ['--expose-gc'])
  const ids = Array.from({ length: count }, (_, i) => userId(i))
  await server.call('seed', { channels: [], invisible: ids })
  await sleep(300)
  const before = await server.call('heapSnapshot', { path: join(dir, `${name}-0.heapsnapshot`) })
  const rss0 = rssBytes(server.pid)
  const gen = await startNode(here, 'gen.mjs', GEN_CPU, {}, ['--max-old-space-size=2048'])
  const r = await gen.call('connect', { base: `ws://127.0.0.1:${server.port}`, proto: 'plain', users: ids, tokens: ids.map((id) => signToken(id)), concurrency: 200 })
  await sleep(1000)
  const after = await server.call('heapSnapshot', { path: join(dir, `${name}-${count}.heapsnapshot`) })
  const rss1 = rssBytes(server.pid)
  await gen.stop()
  await server.stop()
  const a = tally(before)
  const b = tally(after)
  const rows = []
  for (const [key, { bytes, count: n }] of b) {
    const was = a.get(key) ?? { bytes: 0, count: 0 }
    rows.push({ key, bytes: (bytes - was.bytes) / count, count: (n - was.count) / count })
  }
  rows.sort((x, y) => y.bytes - x.bytes)
  const total = rows.reduce((s, row) => s + row.bytes, 0)
  console.log(`\n${name}: ${r.connected} connected, ${r.failed} failed; heap ${total.toFixed(0)} B per connection, RSS ${((rss1 - rss0) / count / 1024).toFixed(2)} KiB per connection`)
  console.log('| bytes per connection | objects per connection | what |\n|---:|---:|---|')
  for (const row of rows.slice(0, 30)) if (Math.abs(row.bytes) >= 4) console.log(`| ${row.bytes.toFixed(0)} | ${row.count.toFixed(2)} | ${row.key} |`)
}

for (const name of servers) await measure(name)
if (!keep) rmSync(dir, { recursive: true, force: true })
process.exit(0)
