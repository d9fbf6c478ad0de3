// The figures of a run as Markdown: the table (a column per server, the
// service's ratio to each yardstick) and the issue's targets, each marked met
// or missed with its ratio. Medians of the alternating runs; lost messages are
// summed. Used by bench/run.mjs after a run and by `--render=<json>` on a
// saved one.
import { readFileSync, writeFileSync } from 'node:fs'
import { median } from './common.mjs'

const COLUMNS = [
  ['roomler', 'roomler'],
  ['plain-ws', 'plain ws'],
  ['socket.io', 'Socket.IO'],
  ['uws', 'uWS'],
  ['centrifugo', 'Centrifugo'],
]
const YARDSTICKS = COLUMNS.slice(1)

const at = (run, path) => path.split('.').reduce((o, k) => o?.[k], run)
const runsOf = (results, key, name) => results.runs[key]?.[name] ?? []
const med = (results, key, name, path) => median(runsOf(results, key, name).map((run) => at(run, path)))
const lostIn = (run) => ['flood', 'rate', 'seq'].reduce((s, k) => s + (run[k]?.lost ?? 0), 0) + (run.steps ?? []).reduce((s, step) => s + (step.lost ?? 0), 0)
const fmt = (v, d) => (Number.isFinite(v) ? v.toFixed(d) : '–')
const ratioOf = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN)
const showRatio = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}x` : '–')
const rate = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '?')

/** [key, label, path, digits, kind]: kind 'sum' sums over runs, 'max' takes the largest, else the median. */
function rowsFor(results) {
  const { cfg } = results
  const rows = [
    ['idle', `KiB per idle connection at ${cfg.idle[0]}`, 'kibPerConnSmall', 1],
    ['idle', `KiB per idle connection at ${cfg.idle[1]}`, 'kibPerConnLarge', 1],
    ['idle', 'server CPU µs per accepted connection (incl. token)', 'cpuUsPerConn', 0],
    ['typing', 'typing: saturation deliveries/s (closed loop)', 'flood.deliveriesPerSec', 0],
    ['typing', 'typing: server CPU µs per delivery at saturation', 'flood.serverCpuUsPerDelivery', 2],
  ]
  const reference = results.rates?.typing
  cfg.ramp.forEach((factor, k) => {
    const offered = `${factor}x plain-ws saturation, ${rate(reference * factor * (cfg.channelSize - 1))} deliveries/s offered`
    rows.push(['typing', `typing ramp ${offered}: server CPU µs per delivery`, `steps.${k}.serverCpuUsPerDelivery`, 2])
    rows.push(['typing', `typing ramp ${factor}x: deliveries/s`, `steps.${k}.deliveriesPerSec`, 0])
    rows.push(['typing', `typing ramp ${factor}x: p50 latency ms`, `steps.${k}.p50`, 2])
    rows.push(['typing', `typing ramp ${factor}x: p99 latency ms`, `steps.${k}.p99`, 2])
  })
  rows.push(
    ['typing', 'typing: messages lost (sum of runs)', 'lost', 0, 'sum'],
    ['typing', 'generator CPU % during typing saturation (max of runs)', 'flood.genCpuPct', 0, 'max'],
    ['presence', `presence: time to last of ${cfg.presenceUsers + cfg.announcers - 1} recipients p50 ms`, 'seq.p50', 1],
    ['presence', 'presence: time to last recipient p99 ms', 'seq.p99', 1],
    ['presence', 'presence: server CPU µs per delivery, one update at a time', 'seq.serverCpuUsPerDelivery', 2],
    ['presence', 'presence: saturation deliveries/s', 'flood.deliveriesPerSec', 0],
    ['presence', 'presence: server CPU µs per delivery at saturation', 'flood.serverCpuUsPerDelivery', 2],
    ['presence', 'presence: messages lost (sum of runs)', 'lost', 0, 'sum'],
  )
  for (const n of cfg.instances) {
    const key = `instances-${n}`
    const what = `${n} instance${n > 1 ? 's' : ''} + Redis`
    rows.push(
      [key, `${what}, typing: saturation deliveries/s`, 'flood.deliveriesPerSec', 0],
      [key, `${what}: server CPU µs per delivery at saturation (instances + Redis)`, 'flood.serverCpuUsPerDelivery', 2],
      [key, `${what}: server CPU µs per delivery at half plain-ws saturation (instances + Redis)`, 'rate.serverCpuUsPerDelivery', 2],
      [key, `${what}: p50 latency ms`, 'rate.p50', 2],
      [key, `${what}: p99 latency ms`, 'rate.p99', 2],
      [key, `${what}: messages lost (sum of runs)`, 'lost', 0, 'sum'],
    )
  }
  return rows
}

function value(results, key, name, path, kind) {
  const runs = runsOf(results, key, name)
  if (runs.length === 0) return NaN
  if (kind === 'sum') return runs.reduce((s, run) => s + (path === 'lost' ? lostIn(run) : at(run, path) ?? 0), 0)
  if (kind === 'max') return Math.max(...runs.map((run) => at(run, path) ?? NaN))
  return med(results, key, name, path)
}

export function renderTable(results) {
  // Variants of the service in the run (a before/after, metrics off) get a column each.
  const present = (name) => Object.values(results.runs).some((byName) => byName[name])
  const variants = [['roomler-before', 'roomler before'], ['roomler-nometrics', 'roomler, metrics off']].filter(([name]) => present(name))
  const columns = [...COLUMNS, ...variants]
  const lines = [
    `| figure | ${columns.map(([, label]) => label).join(' | ')} | ${YARDSTICKS.map(([, label]) => `roomler / ${label}`).join(' | ')} |`,
    `|---|${columns.map(() => '---:|').join('')}${YARDSTICKS.map(() => '---:|').join('')}`,
  ]
  for (const [key, label, path, digits, kind] of rowsFor(results)) {
    if (!results.runs[key]) continue
    const v = (name) => value(results, key, name, path, kind)
    const ours = v('roomler')
    const ratios = YARDSTICKS.map(([name]) => (kind ? '' : showRatio(ratioOf(ours, v(name)))))
    lines.push(`| ${label} | ${columns.map(([name]) => fmt(v(name), digits)).join(' | ')} | ${ratios.join(' | ')} |`)
  }
  return lines.join('\n')
}

/** The issue's targets: [label, ours, theirs, at most]. */
function targetsFor(results) {
  const { cfg } = results
  const same = cfg.ramp.indexOf(0.5)
  const m = (key, name, path) => med(results, key, name, path)
  const t = [
    ['typing: server CPU per delivery at saturation ≤ 0.7x plain ws', m('typing', 'roomler', 'flood.serverCpuUsPerDelivery'), m('typing', 'plain-ws', 'flood.serverCpuUsPerDelivery'), 0.7],
    ['typing: server CPU per delivery at the same offered load (0.5x) ≤ 0.7x plain ws', m('typing', 'roomler', `steps.${same}.serverCpuUsPerDelivery`), m('typing', 'plain-ws', `steps.${same}.serverCpuUsPerDelivery`), 0.7],
    ['typing: p99 at the same offered load (0.5x) ≤ 0.5x plain ws', m('typing', 'roomler', `steps.${same}.p99`), m('typing', 'plain-ws', `steps.${same}.p99`), 0.5],
    ['presence: server CPU per delivery at saturation ≤ 0.7x plain ws', m('presence', 'roomler', 'flood.serverCpuUsPerDelivery'), m('presence', 'plain-ws', 'flood.serverCpuUsPerDelivery'), 0.7],
    ['presence: server CPU per delivery, one update at a time ≤ 0.7x plain ws', m('presence', 'roomler', 'seq.serverCpuUsPerDelivery'), m('presence', 'plain-ws', 'seq.serverCpuUsPerDelivery'), 0.7],
    [`memory per idle connection at ${cfg.idle[1]} ≤ 1.1x plain ws`, m('idle', 'roomler', 'kibPerConnLarge'), m('idle', 'plain-ws', 'kibPerConnLarge'), 1.1],
    ['server CPU per accepted connection ≤ 1.1x plain ws', m('idle', 'roomler', 'cpuUsPerConn'), m('idle', 'plain-ws', 'cpuUsPerConn'), 1.1],
  ]
  for (const n of cfg.instances) {
    t.push([`${n} instance${n > 1 ? 's' : ''} + Redis: server CPU per delivery (summed) at half plain-ws saturation ≤ 1.0x plain ws over Redis`, m(`instances-${n}`, 'roomler', 'rate.serverCpuUsPerDelivery'), m(`instances-${n}`, 'plain-ws', 'rate.serverCpuUsPerDelivery'), 1.0])
  }
  cfg.ramp.forEach((factor, k) => {
    t.push([`typing ramp ${factor}x: server CPU per delivery ≤ 1.0x Centrifugo`, m('typing', 'roomler', `steps.${k}.serverCpuUsPerDelivery`), m('typing', 'centrifugo', `steps.${k}.serverCpuUsPerDelivery`), 1.0])
  })
  t.push(
    ['typing at saturation (overload): server CPU per delivery ≤ 1.0x Centrifugo', m('typing', 'roomler', 'flood.serverCpuUsPerDelivery'), m('typing', 'centrifugo', 'flood.serverCpuUsPerDelivery'), 1.0],
    [`memory per idle connection at ${cfg.idle[1]} ≤ 0.3x Centrifugo`, m('idle', 'roomler', 'kibPerConnLarge'), m('idle', 'centrifugo', 'kibPerConnLarge'), 0.3],
  )
  return t
}

export function renderTargets(results) {
  const lines = ['| target | roomler | yardstick | ratio | |', '|---|---:|---:|---:|---|']
  for (const [label, ours, theirs, max] of targetsFor(results)) {
    const r = ratioOf(ours, theirs)
    const verdict = !Number.isFinite(r) ? 'not measured' : r <= max ? 'met' : `**missed**, by ${(r - max).toFixed(2)}x`
    lines.push(`| ${label} | ${fmt(ours, 2)} | ${fmt(theirs, 2)} | ${showRatio(r)} | ${verdict} |`)
  }
  let lost = 0
  let measured = 0
  for (const byName of Object.values(results.runs)) {
    for (const runs of Object.values(byName)) {
      for (const run of runs) {
        lost += lostIn(run)
        measured++
      }
    }
  }
  lines.push(`| no message lost, any scenario, any server | ${lost} lost | | | ${measured === 0 ? 'not measured' : lost === 0 ? 'met' : '**missed**'} |`)
  uwsNote(results, lines)
  return lines.join('\n')
}

/** uWebSockets.js has no target: the ratio shows how far the floor of ws is from the floor of a Node process. */
function uwsNote(results, lines) {
  const ours = med(results, 'typing', 'roomler', 'flood.serverCpuUsPerDelivery')
  const theirs = med(results, 'typing', 'uws', 'flood.serverCpuUsPerDelivery')
  if (Number.isFinite(ratioOf(ours, theirs))) lines.push(`| (no target) typing at saturation, server CPU per delivery vs uWebSockets.js | ${fmt(ours, 2)} | ${fmt(theirs, 2)} | ${showRatio(ratioOf(ours, theirs))} | |`)
}

/** Replaces the text between `<!-- bench:NAME:start -->` and its end marker (appends the block when there is none). */
export function writeBlocks(path, blocks) {
  let doc = ''
  try {
    doc = readFileSync(path, 'utf8')
  } catch {}
  for (const [name, text] of Object.entries(blocks)) {
    const start = `<!-- bench:${name}:start -->`
    const end = `<!-- bench:${name}:end -->`
    const block = `${start}\n${text}\n${end}`
    const i = doc.indexOf(start)
    const j = doc.indexOf(end)
    doc = i >= 0 && j > i ? doc.slice(0, i) + block + doc.slice(j + end.length) : `${doc}\n${block}\n`
  }
  writeFileSync(path, doc)
}
