// The HTTP side of the embedding-cost scenario (bench/host.mjs): a closed
// loop of keep-alive GETs on one path, `concurrency` in flight, for a warm-up
// and then a measured window; the server's CPU (utime+stime of its pid) is
// read around the window. Driven over IPC like bench/gen.mjs.
import { Agent, request } from 'node:http'
import { cpuMicros } from './lib/common.mjs'

function get(agent, port, path) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode === 200))
    })
    req.once('error', () => resolve(false))
    req.end()
  })
}

async function load({ port, path, concurrency, warmMs, durationMs, serverPid }) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  let measuring = false
  let stop = false
  let ok = 0
  let failed = 0
  async function lane() {
    while (!stop) {
      const good = await get(agent, port, path)
      if (!measuring) continue
      if (good) ok++
      else failed++
    }
  }
  const lanes = Array.from({ length: concurrency }, lane)
  await new Promise((r) => setTimeout(r, warmMs))
  const cpu0 = cpuMicros(serverPid)
  const own0 = process.cpuUsage()
  const t0 = performance.now()
  measuring = true
  await new Promise((r) => setTimeout(r, durationMs))
  measuring = false
  const wallMs = performance.now() - t0
  const cpu1 = cpuMicros(serverPid)
  const own = process.cpuUsage(own0)
  stop = true
  await Promise.all(lanes)
  agent.destroy()
  return {
    requestsPerSec: (ok / wallMs) * 1000,
    serverCpuUsPerRequest: (cpu1 - cpu0) / ok,
    serverCpuPct: ((cpu1 - cpu0) / 1000 / wallMs) * 100,
    genCpuPct: ((own.user + own.system) / 1000 / wallMs) * 100,
    failed,
  }
}

/** The server's CPU with no HTTP load at all (the idle sockets' heartbeats and timers), over `durationMs`. */
async function idle({ durationMs, serverPid }) {
  const cpu0 = cpuMicros(serverPid)
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, durationMs))
  return { serverCpuPct: ((cpuMicros(serverPid) - cpu0) / 1000 / (performance.now() - t0)) * 100 }
}

const commands = { load, idle }
process.on('message', async (msg) => {
  try {
    process.send({ id: msg.id, ok: true, result: await commands[msg.cmd](msg) })
  } catch (error) {
    process.send({ id: msg.id, ok: false, error: String(error?.stack ?? error) })
  }
})
process.on('disconnect', () => process.exit(0))
process.send({ ready: true })
