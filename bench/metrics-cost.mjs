// node bench/metrics-cost.mjs [--events=2000000] [--results=bench/results/latest.json]   (after `npm run build`)
//
// What the metrics add to an event on the hot path, measured alone: the calls
// the service makes per typing event (a frame in, one event written to the
// channel's other members) and per application event (the same, its type bounded), with
// the two `performance.now()` of the delivery histogram, on the built
// `Metrics` class. The end-to-end comparison (`--servers=roomler-nometrics,roomler`)
// is within the noise of a 2-core machine (±10% between runs of one server);
// this puts a figure on the share: the cost per event over the cost per event
// of the full run in `--results` (its CPU per delivery × the recipients per event). A hot
// loop is the calls' best case (in the service, cache misses cost more), so
// the figure is read with a margin: ten times it must still be under 3%.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const EVENTS = Number(arg('events') ?? 2_000_000)
const results = JSON.parse(readFileSync(arg('results') ?? join(here, 'results/latest.json'), 'utf8'))
/** A typing event goes to the other members of its channel in the run being compared. */
const RECIPIENTS = results.cfg.channelSize - 1
const { Metrics } = await import(join(here, '../dist/lib/support/metrics.js'))

/** ns per event of `body`, the median of 7 rounds after a warm-up. */
function nsPerEvent(body) {
  const rounds = []
  for (let r = 0; r < 8; r++) {
    const t0 = process.hrtime.bigint()
    body(EVENTS)
    const ns = Number(process.hrtime.bigint() - t0) / EVENTS
    if (r > 0) rounds.push(ns)
  }
  rounds.sort((a, b) => a - b)
  return rounds[3]
}

let sink = 0
const empty = nsPerEvent((n) => {
  for (let i = 0; i < n; i++) sink += i
})
const metrics = new Metrics()
const typing = nsPerEvent((n) => {
  for (let i = 0; i < n; i++) {
    metrics.messagesIn.add('typing:start')
    const publishedAt = performance.now()
    metrics.delivered('typing:start', RECIPIENTS, publishedAt)
    sink += i
  }
})
// Application event types: 60 distinct ones, past the default bound of 50 (the rest count as `other`).
const types = Array.from({ length: 60 }, (_, i) => `app:event-${i}`)
const application = nsPerEvent((n) => {
  for (let i = 0; i < n; i++) {
    const publishedAt = performance.now()
    metrics.delivered(types[i % types.length], RECIPIENTS, publishedAt)
    sink += i
  }
})
if (sink === 42) console.log('')

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
const typingRuns = results.runs.typing?.roomler ?? []
const rows = [['typing at saturation', median(typingRuns.map((r) => r.flood.serverCpuUsPerDelivery))]]
;(results.cfg.ramp ?? []).forEach((step, i) => rows.push([`typing ramp ${step}x`, median(typingRuns.map((r) => r.steps[i].serverCpuUsPerDelivery))]))
const typingNs = typing - empty
const applicationNs = application - empty
console.log(`metrics per typing event (a frame in, written to ${RECIPIENTS}): ${typingNs.toFixed(1)} ns; per application event: ${applicationNs.toFixed(1)} ns (loop alone ${empty.toFixed(1)} ns)`)
console.log(`\n| figure of ${results.startedAt} | µs per delivery | µs per event (× ${RECIPIENTS}) | metrics' share |\n|---|---:|---:|---:|`)
for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(2)} | ${(us * RECIPIENTS).toFixed(1)} | ${((100 * typingNs) / 1000 / (us * RECIPIENTS)).toFixed(3)} % |`)
