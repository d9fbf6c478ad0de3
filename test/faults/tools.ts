/**
 * Real faults for the fault suite: a FerretDB of the test's own that can be
 * stopped dead with SIGSTOP (a database that accepts connections and answers
 * nothing, as a stalled or overloaded server does) and resumed with SIGCONT;
 * a TCP relay in front of it that stalls one instance's traffic alone (a
 * partition of that instance from the database); and the seeding helpers.
 * Every process started here is stopped by its PID.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import { MongoClient, type Db } from 'mongodb'
import type { Test } from 'tap'
import { startFerretDB } from '../servers/ferretdb.js'
import { eventually, WAIT_MS, type TestClient, type ServerMessage } from '../helper.js'
// The Roomler2 fixtures every test seeds and reads through.
export { addMembers, seedUsers, userWhere } from '../fixtures/roomler2.js'

export interface PausableDatabase {
  /** mongodb://127.0.0.1:<port>/ */
  url: string
  /** SIGSTOP, resolved once every thread of the process is stopped: connections stay open, nothing is answered. */
  pause(): Promise<void>
  /** SIGCONT. */
  resume(): void
}

/** A FerretDB of this test's own; resumed and stopped when the test ends. */
export async function pausableDatabase(t: Test): Promise<PausableDatabase> {
  const ferretdb = await startFerretDB()
  const pid = ferretdb.process.pid!
  let paused = false
  t.teardown(async () => {
    if (paused) process.kill(pid, 'SIGCONT')
    await ferretdb.stop()
  })
  return {
    url: ferretdb.url,
    async pause() {
      process.kill(pid, 'SIGSTOP')
      paused = true
      // The signal is asynchronous: a thread still running may answer one more request.
      await eventually(() => allThreadsStopped(pid), WAIT_MS, 'FerretDB stopped')
    },
    resume() {
      process.kill(pid, 'SIGCONT')
      paused = false
    },
  }
}

/** Whether every thread of the process is in the stopped state (Linux /proc). */
export function allThreadsStopped(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((task) => {
    const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T'
  })
}

export interface StallableRelay {
  /** The database URL through the relay. */
  url: string
  /** Holds every byte in both directions (connections stay open). */
  stall(): void
  /** Lets the held bytes and all later ones through. */
  flow(): void
}

/** A TCP relay to `target` (a mongodb:// URL) whose traffic the test can stall; closed when the test ends. */
export async function stallableRelay(t: Test, target: string): Promise<StallableRelay> {
  const { hostname, port } = new URL(target)
  const sockets = new Set<Socket>()
  let stalled = false
  const server = createServer((client) => {
    const upstream = tcpConnect({ host: hostname, port: Number(port) })
    client.pipe(upstream)
    upstream.pipe(client)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
      // After pipe(), which sets a stream flowing: a connection opened while stalled is held too.
      if (stalled) socket.pause()
    }
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  const relayPort = typeof address === 'object' && address ? address.port : 0
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((done) => server.close(done))
  })
  const url = new URL(target)
  url.port = String(relayPort)
  return {
    url: url.toString(),
    stall() {
      stalled = true
      for (const socket of sockets) socket.pause()
    },
    flow() {
      stalled = false
      for (const socket of sockets) socket.resume()
    },
  }
}

/** A client of the test's own, to seed and read the database. */
export async function databaseClient(t: Test, url: string, name: string): Promise<Db> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 3000 })
  await client.connect()
  t.teardown(() => client.close(true))
  return client.db(name)
}

/** The presence values a client received for `userId`, in order, among `messages`. */
export function presencesOf(messages: ServerMessage[], userId: string): string[] {
  return messages.filter((m) => m.type === 'presence:update' && m.data.user_id === userId).map((m) => m.data.presence)
}

/** Everything the client received so far for `userId`'s presence, after a round trip proved nothing more is on its way here. */
export async function presenceHistory(client: TestClient, userId: string): Promise<string[]> {
  await client.sync()
  return presencesOf(client.received, userId)
}

/** GET /presence as `token`'s user. */
export async function presenceAnswer(url: string, token: string, ids: string[]): Promise<Record<string, string>> {
  const response = await fetch(`${url}/presence?user_ids=${ids.join(',')}`, { headers: { authorization: `Bearer ${token}` } })
  if (response.status !== 200) throw new Error(`GET /presence answered ${response.status}`)
  return ((await response.json()) as { presences: Record<string, string> }).presences
}

/**
 * A TCP relay to `target` (a mongodb:// URL) that holds every chunk `delayMs`
 * in each direction before passing it on, in order: a slow link to the
 * database (every round trip at least twice `delayMs`). Closed when the test ends.
 */
export async function laggingRelay(t: Test, target: string, delayMs: number): Promise<{ url: string }> {
  const { hostname, port } = new URL(target)
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = tcpConnect({ host: hostname, port: Number(port) })
    // Timers of one duration fire in the order they were set: the bytes stay in order.
    client.on('data', (chunk) => setTimeout(() => upstream.write(chunk), delayMs))
    upstream.on('data', (chunk) => setTimeout(() => client.write(chunk), delayMs))
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
    }
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((done) => server.close(done))
  })
  const url = new URL(target)
  url.port = String(typeof address === 'object' && address ? address.port : 0)
  return { url: url.toString() }
}

/**
 * A TCP relay to `target` (any `scheme://host:port` URL) that can stall the
 * connections whose client named itself `name…` (Redis's CLIENT SETNAME, the
 * first bytes a named ioredis connection sends) and leave the others
 * flowing: one connection of an instance held, the rest of it working.
 * Closed when the test ends.
 */
export async function namedStallRelay(t: Test, target: string): Promise<{ url: string; stall(name: string): void; flow(): void }> {
  const { hostname, port } = new URL(target)
  const pairs = new Set<{ client: Socket; upstream: Socket; first: string }>()
  let stalledName: string | null = null
  const hold = (pair: { client: Socket; upstream: Socket; first: string }) => {
    if (stalledName === null || !pair.first.includes(stalledName)) return
    pair.client.pause()
    pair.upstream.pause()
  }
  const server = createServer((client) => {
    const upstream = tcpConnect({ host: hostname, port: Number(port) })
    const pair = { client, upstream, first: '' }
    pairs.add(pair)
    client.on('data', (chunk: Buffer) => {
      if (pair.first.length < 512) pair.first += chunk.toString('latin1')
      upstream.write(chunk)
    })
    upstream.pipe(client)
    for (const socket of [client, upstream]) socket.on('error', () => {})
    client.on('close', () => {
      pairs.delete(pair)
      upstream.destroy()
    })
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  t.teardown(async () => {
    for (const { client, upstream } of pairs) {
      client.destroy()
      upstream.destroy()
    }
    await new Promise((done) => server.close(done))
  })
  const url = new URL(target)
  url.port = String(typeof address === 'object' && address ? address.port : 0)
  return {
    url: url.toString(),
    stall(name) {
      stalledName = name
      for (const pair of pairs) hold(pair)
    },
    flow() {
      stalledName = null
      for (const { client, upstream } of pairs) {
        client.resume()
        upstream.resume()
      }
    },
  }
}
