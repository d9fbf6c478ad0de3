import { Redis } from 'ioredis'
import { RedisBroker } from './broker.js'
import { RedisClusterPresence } from './presence.js'
import { RedisKeys } from './keys.js'
import type { ConnectionRegistry } from '../connections/registry.js'
import { RedisTypingState } from './typing-state.js'
import { READ_BLOCK_MS, RedisHistory } from './history.js'
import type { HistoryLimits } from '../history/history-memory.js'
import { RedisPresenceRoute, type PresenceHeardOn } from './presence-route.js'
import { closeEveryConnectionOnGap } from './history-gap.js'

export interface ClusterLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface RedisClusterOptions {
  url: string
  instanceId: string
  instanceTtlMs: number
  typingTimeoutMs: number
  /** RECOVERY_WINDOW_MS, RECOVERY_EVENTS and RECOVERY_MAX_BYTES. */
  history: HistoryLimits
  /** TYPING_RATE_PER_SEC, held per user across instances in Redis. */
  typingRatePerSec: number
  registry: ConnectionRegistry
  log: ClusterLog
  keys?: RedisKeys
  /** PRESENCE_SCOPE: what catches up after an outage (everyone's presence, or the watched users'). */
  presenceScope?: 'everyone' | 'subscribed'
  /** Counts each presence change Redis delivered here (a metric). */
  presenceHeard?: (on: PresenceHeardOn) => void
  /** Counts the application events trimmed before this instance read them (a metric). */
  historyLost?: (events: number) => void
}

/** A Redis command that gets no answer in this long counts as Redis being down. */
const COMMAND_TIMEOUT_MS = 1000
/** How many heartbeats after a resync re-check what other instances announced. */
const SETTLE_ROUNDS = 3
/** Every this many heartbeats the directory is reconciled with Redis, for announcements lost without a visible outage. */
const RECONCILE_EVERY = 3
/** Reconnect attempts back off up to this. */
const MAX_RECONNECT_DELAY_MS = 2000

function connection(url: string, name: string, commandTimeout = COMMAND_TIMEOUT_MS): Redis {
  return new Redis(url, {
    connectionName: name,
    // Fail fast while Redis is away: local delivery must never wait on it.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    retryStrategy: (times) => Math.min(100 * times, MAX_RECONNECT_DELAY_MS),
    lazyConnect: true,
  })
}

/**
 * This instance as one of many sharing a Redis: the broker, the cluster
 * presence and the typing state on two connections (commands, and the
 * subscription), a heartbeat that keeps this instance counted in, a reaper
 * that counts dead ones out (their users and their typists), and a resync
 * whenever Redis comes back. The subscription dropping alone is an outage
 * too: whatever was announced meanwhile is lost, so the instance reports
 * Redis down until it is subscribed again, then catches up.
 */
export async function startRedisCluster(options: RedisClusterOptions) {
  const { instanceId, instanceTtlMs, log } = options
  const keys = options.keys ?? new RedisKeys()
  const redis = connection(options.url, `roomler-rt:${instanceId}`)
  const sub = connection(options.url, `roomler-rt-sub:${instanceId}`)
  // The history's reader blocks on the stream; a read that outlives its block by this much is a dead connection.
  const reader = connection(options.url, `roomler-rt-read:${instanceId}`, READ_BLOCK_MS + COMMAND_TIMEOUT_MS)
  // Resumes page through the stream on their own connection: a long one never delays the heartbeat or an append.
  const replayer = connection(options.url, `roomler-rt-replay:${instanceId}`)
  const history = new RedisHistory(redis, reader, keys, options.history, log, replayer, closeEveryConnectionOnGap(options.registry, log, options.historyLost))
  const broker = new RedisBroker(redis, sub, keys, instanceId, log, history)
  const presence = new RedisClusterPresence(redis, keys, instanceId)
  const typing = new RedisTypingState(redis, keys, options.typingTimeoutMs, options.typingRatePerSec)
  const presenceRoute = new RedisPresenceRoute(redis, sub, keys, instanceId, log, options.presenceHeard)
  const subscribedScope = options.presenceScope === 'subscribed'
  /** Tells this instance's connections the presence changes they missed: everyone's, or those of the users they watch. */
  const catchUpPresence = () => (subscribedScope ? presenceRoute.catchUp() : broker.catchUpPresence())
  // Asked by others (`r`): one catch-up at a time, and one more after it if asked meanwhile, however many ask.
  let askedCatchUp: Promise<void> | null = null
  let askedAgain = false
  let catchUpOwed = false
  broker.onCatchUpAsked(() => {
    if (askedCatchUp) {
      askedAgain = true
      return
    }
    askedCatchUp = (async () => {
      do {
        askedAgain = false
        await catchUpPresence()
      } while (askedAgain)
    })()
      // Not lost with the error: the next heartbeat that reaches Redis runs it.
      .catch(() => {
        catchUpOwed = true
      })
      .finally(() => {
        askedCatchUp = null
      })
  })
  let up = false
  let closing = false
  let heartbeats = 0
  /** Heartbeats after a resync that re-check the directory and presence, for announcements lost meanwhile. */
  let settleRounds = 0
  /** Trims by age that failed (and whether the last one did: logged once per run of failures). */
  let trimFailures = 0
  let trimFailing = false

  options.registry.watch((userId, here) => broker.announceUser(userId, here))

  // The first connect may fail (Redis down at start): the instance serves its own connections meanwhile.
  await Promise.all([redis.connect().catch(() => {}), sub.connect().catch(() => {}), reader.connect().catch(() => {}), replayer.connect().catch(() => {})])

  async function catchUp(reason: string) {
    try {
      await presence.resync(Date.now())
      await broker.rebuildDirectory()
      // Other instances resync at their own pace, and may announce while this
      // one's subscription is still coming back: look again a few times.
      settleRounds = SETTLE_ROUNDS
      up = true
      log.info({ reason }, 'in step with the other instances')
    } catch (error) {
      log.warn({ err: error }, 'could not resync with Redis yet')
    }
  }

  /** The subscription came back: what the others announced meanwhile was lost. */
  async function heardAgain() {
    try {
      // Subscribed (again) before anything is read, so nothing announced from now on is missed.
      await broker.resubscribe()
      await presenceRoute.resubscribe()
      await broker.rebuildDirectory()
      await catchUpPresence()
      settleRounds = SETTLE_ROUNDS
      log.info({}, 'subscribed to the other instances again')
    } catch (error) {
      log.warn({ err: error }, 'could not catch up after the subscription came back yet')
    }
  }

  /** `reap`: count dead instances out; not in the first heartbeat, before anyone listens to what they leave behind. */
  async function heartbeat(reap = true) {
    try {
      const now = Date.now()
      // 1: this instance was not in the set, so others counted it out: tell them it is back.
      const added = await redis.zadd(keys.instances, now, instanceId)
      if (added === 1 || presence.outOfStep || !up) {
        await catchUp(added === 1 ? 'registered' : 'redis is back')
      } else if (settleRounds > 0) {
        settleRounds--
        await broker.rebuildDirectory()
        await catchUpPresence()
      } else if (++heartbeats % RECONCILE_EVERY === 0) {
        await broker.reconcileDirectory()
      }
      if (!broker.hearing && broker.started && sub.status === 'ready') await heardAgain()
      else if (broker.hearing) await presenceRoute.retry()
      // In step again (or never out of it) after a publish that failed: the others read what they missed.
      if (up && broker.othersMissed) broker.askOthersToCatchUp()
      if (up && catchUpOwed) {
        catchUpOwed = false
        await catchUpPresence()
      }
      if (!reap) return
      for (const dead of await redis.zrangebyscore(keys.instances, '-inf', now - instanceTtlMs)) {
        if (dead === instanceId) continue
        await presence.reap(dead)
        await typing.reap(dead)
        // Its reader holds the trimming back no more.
        await redis.hdel(keys.historyReaders, dead)
        broker.announceGone(dead)
        log.info({ instance: dead }, 'counted out an instance that stopped answering')
      }
    } catch {
      if (up) log.warn({}, 'Redis is unreachable; serving this instance’s own connections until it returns')
      up = false
    }
    if (reap && up) {
      await shareReadPosition(Date.now())
      await trimHistory()
    }
  }

  /** Tells the others where this instance's reader is, and learns the oldest live reader's place (appends trim no further). */
  async function shareReadPosition(now: number) {
    try {
      await history.shareReadPosition(instanceId, now - instanceTtlMs)
    } catch {
      // The last position learned stays; the next heartbeat tries again.
    }
  }

  /**
   * Drops what is older than the window. Apart from the heartbeat's own
   * work: a trim Redis refuses leaves a longer history (still bounded by
   * count and bytes at every append), not an instance counted down or dead
   * ones never counted out.
   */
  async function trimHistory() {
    try {
      await history.trim()
      trimFailing = false
    } catch (error) {
      trimFailures++
      if (!trimFailing) log.warn({ err: error }, 'could not trim the shared history by age; trying again every heartbeat')
      trimFailing = true
    }
  }

  redis.on('error', () => {}) // reported by the heartbeat, once per outage
  sub.on('error', () => {})
  reader.on('error', () => {})
  replayer.on('error', () => {})
  redis.on('close', () => {
    up = false
  })
  sub.on('close', () => {
    if (broker.hearing && !closing) log.warn({}, 'the subscription to the other instances dropped; catching up when it returns')
    broker.notHearing()
  })
  sub.on('ready', () => {
    if (!closing && broker.started) void heardAgain()
  })

  await heartbeat(false)
  // Whether another instance is alive: if none is, this one starts the cluster afresh (orphans offline).
  const others = await redis.zrangebyscore(keys.instances, Date.now() - instanceTtlMs, '+inf').catch(() => null)
  const startedAlone = others !== null && others.every((id) => id === instanceId)
  const period = Math.max(50, Math.floor(instanceTtlMs / 3))
  const timer = setInterval(() => void heartbeat(), period)
  timer.unref()
  redis.on('ready', () => {
    if (!closing) void heartbeat()
  })

  return {
    instanceId,
    broker,
    history,
    presence,
    typing,
    presenceRoute,
    startedAlone,
    /** How many trims of the history by age failed (Redis refused them; the heartbeat went on). */
    trimFailures: () => trimFailures,
    /** Down while commands fail or while the subscription is not live (this instance would miss events). */
    redisState: () => (up && ((broker.hearing && history.hearing) || !broker.started) ? ('ok' as const) : ('down' as const)),
    async close() {
      closing = true
      clearInterval(timer)
      await broker.close()
      // Leaving the set tells the others at once that this instance is gone (its users left already).
      await redis.zrem(keys.instances, instanceId).catch(() => {})
      await redis.del(keys.usersOf(instanceId), keys.typistsOf(instanceId)).catch(() => {})
      await redis.hdel(keys.historyReaders, instanceId).catch(() => {})
      redis.disconnect()
      sub.disconnect()
      reader.disconnect()
      replayer.disconnect()
    },
  }
}
