/**
 * What the fault tests of many instances share: seeding users and channel
 * members, reading a user's stored presence until it holds, `/ready`, and
 * message matchers that say what they wait for.
 */
import { performance } from 'node:perf_hooks'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { startRedis } from '../servers/redis.js'
import { SECRET, WAIT_MS, mongoUrl, type ServerMessage, type TestClient } from '../helper.js'
// The Roomler2 fixtures every test seeds and reads through.
export { addMembers, seedUsers, userWhere } from '../fixtures/roomler2.js'

export const delay = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

/** A matcher that names what it matches (failure messages quote it). */
export function described(text: string, test: (m: ServerMessage) => boolean): (m: ServerMessage) => boolean {
  return Object.assign(test, { toString: () => text })
}

export const isTyping = (type: string, channelId: string, userId: string) =>
  described(`${type} of ${userId} in ${channelId}`, (m) => m.type === type && m.data.channel_id === channelId && m.data.user_id === userId)

export const isPresence = (userId: string, presence: string) =>
  described(`presence:update of ${userId} to ${presence}`, (m) => m.type === 'presence:update' && m.data.user_id === userId && m.data.presence === presence)

/** The status of GET /ready and its `dependencies`. */
export async function ready(baseUrl: string): Promise<{ status: number; redis: string }> {
  const response = await fetch(`${baseUrl}/ready`, { signal: AbortSignal.timeout(WAIT_MS) })
  const body = (await response.json()) as { dependencies: { redis: string } }
  return { status: response.status, redis: body.dependencies.redis }
}

/** The environment of a spawned instance sharing `redisUrl` and the test's database. */
export function instanceEnv(redisUrl: string, database: string, realtime: Record<string, number>): Record<string, string> {
  const env: Record<string, string> = {
    ROOMLER__REDIS__URL: redisUrl,
    ROOMLER__DATABASE__URL: mongoUrl(),
    ROOMLER__DATABASE__NAME: database,
    ROOMLER__JWT__SECRET: SECRET,
  }
  for (const [name, value] of Object.entries(realtime)) env[`ROOMLER__REALTIME__${name}`] = String(value)
  return env
}

/** A plain Redis client for the test to inject faults with (CLIENT KILL, CONFIG SET). */
export function adminClient(url: string): Redis {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 })
}

/** The id Redis gives the client connection named `name`, for CLIENT KILL ID. */
export async function clientIdByName(admin: Redis, name: string): Promise<string> {
  const list = String(await admin.client('LIST'))
  const line = list.split('\n').find((entry) => entry.includes(` name=${name} `))
  const id = line ? /\bid=(\d+)/.exec(line)?.[1] : undefined
  if (!id) throw new Error(`no Redis client named ${name}:\n${list}`)
  return id
}

/** Sends `note` events from `publish` every 50 ms until `client` has one; how long that took. */
export async function publishUntilHeard(publish: (n: number) => void, client: TestClient, timeoutMs: number): Promise<{ ms: number; sent: number }> {
  const started = performance.now()
  let sent = 0
  const timer = setInterval(() => publish(++sent), 50)
  try {
    await client.next('note', timeoutMs)
    return { ms: performance.now() - started, sent }
  } finally {
    clearInterval(timer)
  }
}

/** A Redis and a client of the test's own to inject faults with; both stopped when the test ends. */
export async function redisWithAdmin(t: Test): Promise<{ url: string; admin: Redis }> {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const admin = adminClient(redis.url)
  t.teardown(() => admin.disconnect())
  return { url: redis.url, admin }
}

/**
 * Kills the client connection named `name` and keeps it from coming back
 * (maxclients lowered, as a Redis at its connection limit does) until
 * `letBack` is called (or the test ends).
 */
export async function killAndHoldAway(t: Test, admin: Redis, name: string): Promise<{ letBack(): Promise<unknown> }> {
  const id = await clientIdByName(admin, name)
  const clients = Number(/connected_clients:(\d+)/.exec(String(await admin.info('clients')))?.[1])
  await admin.config('SET', 'maxclients', String(clients - 1))
  const letBack = () => admin.config('SET', 'maxclients', '10000')
  t.teardown(() => letBack().catch(() => {}))
  await admin.client('KILL', 'ID', id)
  return { letBack }
}
