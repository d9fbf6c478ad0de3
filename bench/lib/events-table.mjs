// The application-event scenario (bench/run.mjs, scenario 5) as Markdown:
// server CPU per delivery with recovery off and on (the history kept, on one
// instance in process, on two in a Redis stream), the cost of recovery, and
// the heap per kept event. Medians of the runs.
import { median } from './common.mjs'

const fmt = (v, d) => (Number.isFinite(v) ? v.toFixed(d) : '–')
const med = (results, key, path) =>
  median((results.runs[key]?.roomler ?? []).map((run) => path.split('.').reduce((o, k) => o?.[k], run)))

export function renderEvents(results) {
  const { cfg } = results
  const rows = ['| application events (roomler) | recovery off | recovery on | cost of recovery |', '|---|---|---|---|']
  for (const n of cfg.eventInstances ?? [1, 2]) {
    const what = n === 1 ? 'one instance' : `${n} instances + Redis`
    for (const [path, label] of [
      ['channels.serverCpuUsPerDelivery', `to channels of ${cfg.channelSize}`],
      ['users.serverCpuUsPerDelivery', `each to ${cfg.broadcastUsers.toLocaleString('en-US')} users`],
    ]) {
      const off = med(results, `events-${n}-off`, path)
      const on = med(results, `events-${n}-on`, path)
      const cost = Number.isFinite(off) && Number.isFinite(on) && off > 0 ? `${fmt(((on - off) / off) * 100, 0)}%` : '–'
      rows.push(`| ${what}, ${label}: server CPU µs per delivery | ${fmt(off, 2)} | ${fmt(on, 2)} | ${cost} |`)
    }
  }
  const perEvent = med(results, 'events-1-on', 'heapBytesPerChannelEvent') - med(results, 'events-1-off', 'heapBytesPerChannelEvent')
  rows.push(`| one instance: heap per kept event (a channel of ${cfg.channelSize}), bytes | – | ${fmt(perEvent, 0)} | |`)
  const lost = Object.entries(results.runs)
    .filter(([key]) => key.startsWith('events-'))
    .reduce((sum, [, byName]) => sum + (byName.roomler ?? []).reduce((s, r) => s + (r.lost ?? 0), 0), 0)
  rows.push(`| application events lost (sum of runs) | | ${lost} | |`)
  return rows.join('\n')
}
