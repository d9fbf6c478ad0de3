// The embedding cost for a host's own request without the network and the
// scheduler in the figure (bench/host.mjs runs it after the process-level
// variants): both hosts of servers/host-app.mjs, alone and with
// roomler-realtime, in this one process; batches of `app.inject()` GETs of
// the host's route alternate between them (the order swapped each round), each
// batch's CPU (process.cpuUsage) per request recorded. Background load then
// falls on both alike; the figure is the median of the per-round ratios.
// Prints one JSON line.
import { buildHost } from './servers/host-app.mjs'

const rounds = Number(process.env.BENCH_INJECT_ROUNDS ?? 30)
const batch = Number(process.env.BENCH_INJECT_BATCH ?? 2000)
const alone = await buildHost(false)
const embedded = await buildHost(true)
await alone.ready()
await embedded.ready()

async function cpuPerRequest(app) {
  const before = process.cpuUsage()
  for (let i = 0; i < batch; i++) await app.inject({ method: 'GET', url: '/api/items' })
  const used = process.cpuUsage(before)
  return (used.user + used.system) / batch
}

for (let i = 0; i < 3; i++) await Promise.all([cpuPerRequest(alone), cpuPerRequest(embedded)]) // warm-up: JIT, caches
const ratios = []
const per = { alone: [], embedded: [] }
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [embedded, alone] : [alone, embedded]
  const [first, second] = [await cpuPerRequest(order[0]), await cpuPerRequest(order[1])]
  const [a, e] = r % 2 ? [second, first] : [first, second]
  per.alone.push(a)
  per.embedded.push(e)
  ratios.push(e / a)
}
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
await alone.close()
await embedded.close()
console.log(JSON.stringify({ rounds, batch, aloneUsPerRequest: median(per.alone), embeddedUsPerRequest: median(per.embedded), medianRatio: median(ratios), ratioP25: median(ratios.slice().sort((x, y) => x - y).slice(0, Math.ceil(rounds / 2))), ratioP75: median(ratios.slice().sort((x, y) => x - y).slice(Math.floor(rounds / 2))) }))
process.exit(0)
