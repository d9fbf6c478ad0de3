/**
 * Many instances of the whole service for the tests of contract section 7:
 * each on its own loopback port, sharing one real redis-server and one
 * MongoDB database (FerretDB in the test run), as instances share them in
 * production; and the checks those tests make of what every connection, on
 * every instance, was told.
 *
 * Absence is proven, never slept on: first a positive receipt on the same
 * instance shows the event has been delivered there, then `sync()` (a ping
 * round trip) on the connections that must not have it, then the whole
 * history of each connection is compared with what it should hold. Where an
 * event could arrive late from another instance, a later event from the same
 * sender (which travels the same way, in order) is awaited first.
 */
import type { Test } from 'tap'
import type { Db } from 'mongodb'
import { WAIT_MS, build, eventually, mongoUrl, signToken, testDatabase, type BuildOptions, type BuiltApp, type TestClient } from '../helper.js'
import { startRedis, type RunningRedis } from '../servers/redis.js'
import { channelMembersIndex } from '../fixtures/roomler2.js'
import { isPresence, isTyping, isTypingBy, presenceOf, typing, type TypingType } from '../fixtures/messages.js'

/** Short, so that a dead instance is counted out quickly (the instances of `cluster()` never die). */
export const INSTANCE_TTL_MS = 1000
/** Long enough that the cache never expires by itself during a test: only a drop refreshes it. */
export const MEMBERSHIP_CACHE_MS = 60_000

export interface Cluster {
  redis: RunningRedis
  db: Db
  nodes: BuiltApp[]
}

/**
 * `size` instances on one fresh redis-server and one fresh database. Teardown
 * runs last-registered first: clients, then instances, then Redis, then the
 * database.
 */
export async function cluster(t: Test, size: number, realtime: BuildOptions['realtime'] = {}): Promise<Cluster> {
  const { name, db } = await testDatabase(t, 'cluster')
  await channelMembersIndex(db)
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const nodes: BuiltApp[] = []
  for (let i = 0; i < size; i++) {
    nodes.push(
      await build(t, {
        database: { url: mongoUrl(), name },
        redis: { url: redis.url },
        realtime: {
          instanceTtlMs: INSTANCE_TTL_MS,
          typingTimeoutMs: 30_000,
          membershipCacheMs: MEMBERSHIP_CACHE_MS,
          // The latency measurement types faster than one user may (TYPING_RATE_PER_SEC).
          typingRatePerSec: 1000,
          ...realtime,
        },
      }),
    )
  }
  return { redis, db, nodes }
}

/** Waits `ms` on purpose: the scenario's own pace (a renewal half a timeout later, a retry), never a wait for something. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A ping round trip on every connection: whatever its instance sent it before has arrived. */
export async function settle(clients: Record<string, TestClient>): Promise<void> {
  await Promise.all(Object.values(clients).map((client) => client.sync()))
}

/** Each of `clients` is told next that `userId` started (or stopped) typing in `channelId`. */
export async function expectTyping(t: Test, clients: Record<string, TestClient>, type: TypingType, channelId: string, userId: string, what: string): Promise<void> {
  for (const [name, client] of Object.entries(clients)) {
    t.same(await client.next(isTyping(type, channelId, userId)), typing(type, channelId, userId), `${name}: ${what}`)
  }
}

/** All that each of `clients` has received of `userId`'s typing: `rounds` starts and stops in `channelId`, in turn. */
export function expectTypingHistory(t: Test, clients: Record<string, TestClient>, channelId: string, userId: string, rounds: number, what: string): void {
  const expected = Array.from({ length: rounds }, () => [typing('typing:start', channelId, userId), typing('typing:stop', channelId, userId)]).flat()
  for (const [name, client] of Object.entries(clients)) t.same(client.received.filter(isTypingBy(userId)), expected, `${name}: ${what}`)
}

/** Each of `clients` is told next that `userId`'s presence is `presence`. */
export async function expectPresence(t: Test, clients: Record<string, TestClient>, userId: string, presence: string, what: string): Promise<void> {
  for (const [name, client] of Object.entries(clients)) t.same(await client.next(isPresence(userId)), presenceOf(userId, presence), `${name}: ${what}`)
}

/** All that each of `clients` has received of `userId`'s presence: `presences`, in order. */
export function expectPresenceHistory(t: Test, clients: Record<string, TestClient>, userId: string, presences: string[], what: string): void {
  for (const [name, client] of Object.entries(clients)) {
    t.same(client.received.filter(isPresence(userId)), presences.map((presence) => presenceOf(userId, presence)), `${name}: ${what}`)
  }
}

/** GET /presence at `baseUrl` (an instance's http://127.0.0.1:<port>) as `asker`. */
export async function presences(baseUrl: string, asker: string, userIds: string[]): Promise<Record<string, string>> {
  const response = await fetch(`${baseUrl}/presence?user_ids=${userIds.join(',')}`, {
    headers: { authorization: `Bearer ${signToken({ sub: asker })}` },
    signal: AbortSignal.timeout(WAIT_MS),
  })
  const text = await response.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  const found = (body as { presences?: Record<string, string> } | null)?.presences
  if (response.status !== 200 || !found) throw new Error(`GET /presence answered ${response.status}: ${JSON.stringify(body)}`)
  return found
}

/** Waits until GET /presence on every node answers `expected` for `asker`, and checks it. */
export async function presenceEverywhere(t: Test, nodes: Record<string, BuiltApp>, asker: string, expected: Record<string, string>, what: string) {
  for (const [name, node] of Object.entries(nodes)) {
    let last: Record<string, string> = {}
    await eventually(
      async () => {
        last = await presences(node.url, asker, Object.keys(expected))
        return JSON.stringify(last) === JSON.stringify(expected)
      },
      WAIT_MS,
      `GET /presence on ${name}: ${what}`,
    ).catch(() => {})
    t.same(last, expected, `GET /presence on ${name}: ${what}`)
  }
}
