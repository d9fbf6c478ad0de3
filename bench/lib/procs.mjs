// The runner's processes: Node children on a core with request/response over
// IPC (servers and generators), redis-server, free ports. Every process started
// here is tracked and stopped by its PID (killAll on exit).
import { spawn, execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
import { cpus } from 'node:os'
import { join } from 'node:path'

export const pinned = cpus().length >= 2
export const SERVER_CPU = '0'
export const GEN_CPU = '1'
const children = new Set()
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Remembers a child so that killAll stops it. */
export function track(child) {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

export function killAll() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

const spawnOn = (core, args, options) => track(pinned ? spawn('taskset', ['-c', core, ...args], options) : spawn(args[0], args.slice(1), options))

/** A child node process on a core, with request/response over IPC. */
export async function startNode(dir, file, core, env = {}, extraArgs = []) {
  const child = spawnOn(core, [process.execPath, ...extraArgs, join(dir, file)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } })
  const pending = new Map()
  let nextId = 1
  let readyInfo
  const ready = new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready`)))
    child.on('message', (msg) => {
      if (msg.ready) {
        readyInfo = msg
        return resolve(msg)
      }
      const p = pending.get(msg.id)
      if (!p) return
      pending.delete(msg.id)
      msg.ok ? p.resolve(msg.result) : p.reject(new Error(msg.error))
    })
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  await ready
  clearTimeout(timer)
  child.on('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`${file} exited`))
    pending.clear()
  })
  return {
    pid: child.pid,
    port: readyInfo.port,
    call(cmd, body = {}) {
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        child.send({ id, cmd, ...body })
      })
    },
    stop: () => stopChild(child),
  }
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(t)
}

export async function freePort() {
  const s = createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const port = s.address().port
  await new Promise((r) => s.close(r))
  return port
}

/** A redis-server on the server core, no persistence. */
export async function startRedis() {
  const port = await freePort()
  const child = spawnOn(SERVER_CPU, ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    await sleep(50)
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' })
      break
    } catch {}
  }
  return { pid: child.pid, url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child) }
}
