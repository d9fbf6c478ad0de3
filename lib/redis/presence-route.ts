import type { Redis } from 'ioredis'
import { isChosenPresence, type VisiblePresence } from '../../schemas/common.js'
import type { PresenceRoute, PresenceRouteHandlers } from '../presence/presence-route.js'
import type { RedisKeys } from './keys.js'

export interface PresenceRouteLog {
  warn(obj: object, msg: string): void
}

/** Where a presence change came to this instance from: the channel every instance hears, or the user's own. */
export type PresenceHeardOn = 'everyone' | 'subscribers'

/** Channels named in one SUBSCRIBE or UNSUBSCRIBE at most. */
const CHANNEL_BATCH = 1000

/**
 * PRESENCE_SCOPE=subscribed over Redis: one pub/sub channel per user
 * (`pu:<user>`), which an instance subscribes to while one of its
 * connections watches that user. A change is one PUBLISH, and Redis hands it
 * to exactly the instances subscribed: no watch set to keep, and nothing to
 * clean up after an instance dies (Redis drops a dead connection's
 * subscriptions with it). Shares the broker's subscriber connection, so it
 * drops and comes back with it; the cluster then calls `resubscribe` and
 * `catchUp`.
 *
 * Wire format: `w \n origin \n presence \n payload` (the broker, which hears
 * every message of the connection too, ignores kind `w`).
 */
export class RedisPresenceRoute implements PresenceRoute {
  #handlers: PresenceRouteHandlers | null = null
  /** Users watched here: the channels this instance wants. */
  readonly #watched = new Set<string>()
  /** Unsubscribes that failed (Redis away): the channel may come back with the subscription, and is dropped then. */
  readonly #dropped = new Set<string>()
  /** Subscribes that failed or timed out with the connection up: tried again at the next heartbeat. */
  readonly #unsure = new Set<string>()
  #failures = 0

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly keys: RedisKeys,
    private readonly instanceId: string,
    private readonly log: PresenceRouteLog,
    /** Counts every presence change Redis delivered to this instance, on whichever channel (a metric). */
    private readonly heard: (on: PresenceHeardOn) => void = () => {},
  ) {
    const prefix = keys.presenceChannels
    const everyone = keys.everyone
    sub.on('message', (channel: string, message: string) => {
      if (channel.startsWith(prefix)) {
        this.heard('subscribers')
        this.#receive(channel.slice(prefix.length), message)
      } else if (channel === everyone && message.startsWith('e\n') && isPresenceHeader(message)) {
        this.heard('everyone')
      }
    })
  }

  start(handlers: PresenceRouteHandlers): void {
    this.#handlers = handlers
  }

  publish(userId: string, presence: VisiblePresence, payload: string): void {
    this.#handlers?.deliver(userId, presence, payload, performance.now())
    this.pub.publish(this.keys.presenceOf(userId), `w\n${this.instanceId}\n${presence}\n${payload}`).then(
      () => {
        this.#failures = 0
      },
      (error: unknown) => {
        // The watchers elsewhere catch up once Redis answers again.
        if (this.#failures++ === 0) this.log.warn({ err: error }, 'could not publish a presence change to the other instances')
      },
    )
  }

  /** The users one presence:subscribe made watched here: one SUBSCRIBE (per CHANNEL_BATCH). */
  async watch(userIds: readonly string[]): Promise<void> {
    for (const userId of userIds) {
      this.#watched.add(userId)
      this.#dropped.delete(userId)
    }
    const waits: Promise<void>[] = []
    for (let i = 0; i < userIds.length; i += CHANNEL_BATCH) {
      const batch = userIds.slice(i, i + CHANNEL_BATCH)
      // Redis away: subscribed with the rest when the subscription is back (`resubscribe`); else at the next heartbeat (`retry`).
      waits.push(
        this.sub.subscribe(...batch.map((userId) => this.keys.presenceOf(userId))).then(
          () => {},
          () => {
            for (const userId of batch) if (this.#watched.has(userId)) this.#unsure.add(userId)
          },
        ),
      )
    }
    await Promise.all(waits)
  }

  /** The users one presence:unsubscribe or close left unwatched here: one UNSUBSCRIBE (per CHANNEL_BATCH). */
  unwatch(userIds: readonly string[]): void {
    for (const userId of userIds) this.#watched.delete(userId)
    for (let i = 0; i < userIds.length; i += CHANNEL_BATCH) {
      const batch = userIds.slice(i, i + CHANNEL_BATCH)
      this.sub.unsubscribe(...batch.map((userId) => this.keys.presenceOf(userId))).catch(() => {
        for (const userId of batch) if (!this.#watched.has(userId)) this.#dropped.add(userId)
      })
    }
  }

  /** The subscription is back: every watched user's channel again, none of the others. */
  async resubscribe(): Promise<void> {
    // Whatever fails is tried again at the next heartbeat.
    for (const userId of this.#watched) this.#unsure.add(userId)
    // The cluster catches every watched user up right after (`catchUp`).
    await this.#retry(false)
  }

  /**
   * The heartbeat, with Redis up: the subscribes and unsubscribes that failed
   * while the connection stayed up, again. A subscriber of those users was
   * already answered (presence:state) while their channel was not heard: the
   * changes made meanwhile are caught up once it is.
   */
  retry(): Promise<void> {
    return this.#retry(true)
  }

  async #retry(catchUp: boolean): Promise<void> {
    if (this.#unsure.size === 0 && this.#dropped.size === 0) return
    const unsure = [...this.#unsure].filter((userId) => this.#watched.has(userId))
    this.#unsure.clear()
    try {
      await this.#subscribeAll(unsure)
    } catch {
      // Next heartbeat, then.
      for (const userId of unsure) if (this.#watched.has(userId)) this.#unsure.add(userId)
      return
    }
    // Failing, it is tried at the next heartbeat's settle round or outage; the channel is heard meanwhile.
    if (catchUp && unsure.length > 0) await this.#catchUp(unsure).catch(() => {})
  }

  async #subscribeAll(userIds: string[]): Promise<void> {
    const stale = [...this.#dropped].filter((userId) => !this.#watched.has(userId))
    this.#dropped.clear()
    if (stale.length > 0) {
      await this.sub.unsubscribe(...stale.map((userId) => this.keys.presenceOf(userId))).catch((error: unknown) => {
        for (const userId of stale) if (!this.#watched.has(userId)) this.#dropped.add(userId)
        throw error
      })
    }
    const channels = userIds.map((userId) => this.keys.presenceOf(userId))
    for (let i = 0; i < channels.length; i += CHANNEL_BATCH) await this.sub.subscribe(...channels.slice(i, i + CHANNEL_BATCH))
  }

  /** Whatever was published while this instance could not hear: its watchers are told what differs from Redis now. */
  catchUp(): Promise<void> {
    return this.#catchUp()
  }

  /** `only`: these users (the others' channels were heard all along). */
  async #catchUp(only?: readonly string[]): Promise<void> {
    await this.#handlers?.catchUp(async (userIds) => {
      if (userIds.length === 0) return []
      const values = await this.pub.hmget(this.keys.presence, ...userIds)
      return values.map((value) => (isChosenPresence(value) ? value : undefined))
    }, only)
  }

  /** Users watched here (their channels are wanted). */
  get watchedCount(): number {
    return this.#watched.size
  }

  #receive(userId: string, message: string): void {
    const handlers = this.#handlers
    if (!handlers || message[0] !== 'w') return
    const originEnd = message.indexOf('\n', 2)
    const presenceEnd = message.indexOf('\n', originEnd + 1)
    if (originEnd === -1 || presenceEnd === -1) return
    // Our own change was delivered here when it was published.
    if (message.slice(2, originEnd) === this.instanceId) return
    const presence = message.slice(originEnd + 1, presenceEnd) as VisiblePresence
    handlers.deliver(userId, presence, message.slice(presenceEnd + 1))
  }
}

const PRESENCE_TYPE = 'presence:update\n'

/** A broker message `e \n origin \n type \n …` whose type is presence:update. */
function isPresenceHeader(message: string): boolean {
  const originEnd = message.indexOf('\n', 2)
  return originEnd !== -1 && message.startsWith(PRESENCE_TYPE, originEnd + 1)
}
