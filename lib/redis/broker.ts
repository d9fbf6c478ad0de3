import type { Redis } from 'ioredis'
import { visiblePresence, type Presence } from '../../schemas/common.js'
import type { Audience, Broker, BrokerHandlers, Outbound } from '../delivery/broker.js'
import type { RedisKeys } from './keys.js'
import { Directory } from './directory.js'
import type { RedisHistory } from './history.js'

const PRESENCE = 'presence:update'

export interface BrokerLog {
  warn(obj: object, msg: string): void
}

/**
 * Events between instances. An application event is appended to the
 * history stream, which every instance reads (RedisHistory): it is kept for
 * resumes, and an instance that blipped catches up. Typing and presence,
 * state rather than history, go over Redis pub/sub. An event for everyone goes
 * once to the channel every instance hears; an event for named users goes
 * only to the instances that hold them (the directory), so its cost follows
 * its recipients, not the number of instances. Typing and presence are delivered
 * locally at once; an application event is delivered when the stream brings it
 * back (one round trip), or at once when Redis cannot take it.
 *
 * Wire format, one string: `kind \n origin \n …` with the event's payload
 * last, untouched (serialized once by the dispatcher).
 */
export class RedisBroker implements Broker {
  #handlers: BrokerHandlers | null = null
  readonly #directory: Directory
  /** What this instance's connections were last told of each user's visible presence (absent: offline). */
  readonly #told = new Map<string, string>()
  /** One set per presence catch-up in flight: the users whose change was heard (or made) here meanwhile, newer than its read. */
  readonly #heardWhileReading = new Set<Set<string>>()
  #failures = 0
  /** A publish failed since the others were last asked to catch up: they missed an announcement or an event of ours. */
  #othersMissed = false
  #catchUpAsked: (() => void) | null = null
  #started = false
  #hearing = false

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly keys: RedisKeys,
    private readonly instanceId: string,
    private readonly log: BrokerLog,
    private readonly history: RedisHistory,
  ) {
    this.#directory = new Directory(pub, keys, instanceId)
  }

  async start(handlers: BrokerHandlers): Promise<void> {
    this.#handlers = handlers
    this.#started = true
    this.sub.on('message', (channel: string, message: string) => this.#receive(message))
    this.history.start((audience, event) => handlers.deliver(audience, event))
    // Redis away at start: the cluster subscribes once it answers.
    await this.resubscribe().catch(() => {})
  }

  /** Delivering to this instance's connections (start was called). */
  get started(): boolean {
    return this.#started
  }

  /** Subscribed: this instance hears what the others publish. */
  get hearing(): boolean {
    return this.#hearing
  }

  /** Subscribes (again: idempotent); this instance hears the others once it resolves. */
  async resubscribe(): Promise<void> {
    await this.sub.subscribe(this.keys.everyone, this.keys.inbox(this.instanceId))
    this.#hearing = true
  }

  /** The subscription dropped: whatever is published until it is back is missed here. */
  notHearing(): void {
    this.#hearing = false
  }

  publish(audience: Audience, event: Outbound): void {
    if (event.application) {
      if (this.#handlers) this.history.append(audience, event)
      return
    }
    this.#handlers?.deliver(audience, event)
    // The type is a header line (for counting); the payload carries the real one.
    const type = event.type.includes('\n') ? event.type.replace(/\n/g, ' ') : event.type
    if ('everyone' in audience) {
      if (event.type === PRESENCE) this.#remember(event.payload)
      const exclude = audience.exclude && audience.exclude.size > 0 ? JSON.stringify([...audience.exclude]) : ''
      this.#send(this.keys.everyone, `e\n${this.instanceId}\n${type}\n${exclude}\n${event.payload}`)
      return
    }
    const byInstance = new Map<string, string[]>()
    for (const userId of audience.users) {
      if (audience.exclude?.has(userId)) continue
      const instances = this.#directory.holders(userId)
      if (!instances) continue
      for (const instanceId of instances) {
        let users = byInstance.get(instanceId)
        if (!users) byInstance.set(instanceId, (users = []))
        users.push(userId)
      }
    }
    for (const [instanceId, users] of byInstance) {
      this.#send(this.keys.inbox(instanceId), `u\n${this.instanceId}\n${type}\n${JSON.stringify(users)}\n${event.payload}`)
    }
  }

  dropChannel(channelId: string): void {
    this.#handlers?.dropChannel(channelId)
    this.#send(this.keys.everyone, `m\n${this.instanceId}\n${channelId}`)
  }

  /** Tells the other instances that a user's first connection here opened, or their last closed. */
  announceUser(userId: string, here: boolean): void {
    this.#send(this.keys.everyone, `d\n${this.instanceId}\n${userId}\n${here ? 1 : 0}`)
  }

  /** Tells everyone an instance is dead, and forgets it here. */
  announceGone(instanceId: string): void {
    this.#directory.forgetInstance(instanceId)
    this.#send(this.keys.everyone, `g\n${this.instanceId}\n${instanceId}`)
  }

  /**
   * What to run when another instance asks for a catch-up (`r`): the
   * cluster's presence catch-up, whichever the scope (everyone's, or the
   * watched users' only).
   */
  onCatchUpAsked(listener: () => void): void {
    this.#catchUpAsked = listener
  }

  /** Some publish of this instance's failed: the others should be asked to catch up once Redis answers. */
  get othersMissed(): boolean {
    return this.#othersMissed
  }

  /**
   * Asks the others to read again which users this instance holds and the
   * presence Redis holds: a user's arrival announced while the publish failed
   * would otherwise reach no other instance's directory until its next
   * reconcile, and events for them would go nowhere. Called once this
   * instance's own state in Redis is back in step.
   */
  askOthersToCatchUp(): void {
    this.#othersMissed = false
    this.#send(this.keys.everyone, `r\n${this.instanceId}`)
  }

  /** Adds to the directory what Redis holds (at start, and after Redis came back). */
  rebuildDirectory(): Promise<void> {
    return this.#directory.rebuild()
  }

  /** Makes the directory agree with Redis, stale entries included (periodically). */
  reconcileDirectory(): Promise<void> {
    return this.#directory.reconcile()
  }

  /**
   * After an outage some announcements never arrived: tells this instance's
   * connections whatever differs between what they were told and the presence
   * Redis holds now. Idempotent: it sends nothing when they agree.
   */
  async catchUpPresence(): Promise<void> {
    if (!this.#handlers) return
    // The read is on the command connection, live changes come on the subscriber one: a change heard
    // before the reply is as new as the read or newer (and was told), so the read says nothing of that user.
    const heard = new Set<string>()
    this.#heardWhileReading.add(heard)
    let states: Record<string, string>
    try {
      states = await this.pub.hgetall(this.keys.presence)
    } finally {
      this.#heardWhileReading.delete(heard)
    }
    const handlers = this.#handlers
    if (!handlers) return
    const tell = (userId: string, presence: string) => {
      const payload = JSON.stringify({ type: PRESENCE, data: { user_id: userId, presence } })
      this.#remember(payload)
      handlers.deliver({ everyone: true, exclude: new Set([userId]) }, { type: PRESENCE, payload })
    }
    for (const [userId, presence] of Object.entries(states)) {
      if (heard.has(userId)) continue
      const visible = visiblePresence(presence as Presence)
      if ((this.#told.get(userId) ?? 'offline') !== visible) tell(userId, visible)
    }
    for (const userId of [...this.#told.keys()]) if (!(userId in states) && !heard.has(userId)) tell(userId, 'offline')
  }

  async close(): Promise<void> {
    this.#handlers = null
    this.history.close()
  }

  /** Notes what this instance's connections are told of a user; false when they knew it already. */
  #remember(payload: string): boolean {
    const { data } = JSON.parse(payload) as { data: { user_id: string; presence: string } }
    for (const heard of this.#heardWhileReading) heard.add(data.user_id)
    if ((this.#told.get(data.user_id) ?? 'offline') === data.presence) return false
    if (data.presence === 'offline') this.#told.delete(data.user_id)
    else this.#told.set(data.user_id, data.presence)
    return true
  }

  #send(channel: string, message: string): void {
    this.pub.publish(channel, message).then(
      () => {
        this.#failures = 0
      },
      (error: unknown) => {
        // Other instances miss this event; they catch up on presence when Redis is back.
        this.#othersMissed = true
        if (this.#failures++ === 0) this.log.warn({ err: error }, 'could not publish to other instances')
      },
    )
  }

  #receive(message: string): void {
    const handlers = this.#handlers
    if (!handlers) return
    const kind = message[0]
    const originEnd = message.indexOf('\n', 2)
    const origin = message.slice(2, originEnd === -1 ? undefined : originEnd)
    if (origin === this.instanceId) return
    const rest = message.slice(originEnd + 1)
    if (kind === 'e' || kind === 'u') {
      const typeEnd = rest.indexOf('\n')
      const audienceEnd = rest.indexOf('\n', typeEnd + 1)
      const type = rest.slice(0, typeEnd)
      const audienceText = rest.slice(typeEnd + 1, audienceEnd)
      const payload = rest.slice(audienceEnd + 1)
      const audience: Audience =
        kind === 'e'
          ? { everyone: true, exclude: audienceText ? new Set(JSON.parse(audienceText) as string[]) : undefined }
          : { users: JSON.parse(audienceText) as string[] }
      // Others hear changes only (contract section 5): a catch-up may have told this one already.
      if (kind === 'e' && type === PRESENCE && !this.#remember(payload)) return
      handlers.deliver(audience, { type, payload })
    } else if (kind === 'd') {
      const [userId, here] = rest.split('\n')
      if (userId === undefined) return
      if (here === '1') this.#directory.arrived(userId, origin)
      else this.#directory.departed(userId, origin)
    } else if (kind === 'r') {
      // Failures here are mended by the next reconcile.
      this.#directory
        .addHeldBy(origin)
        .then(() => this.#catchUpAsked?.())
        .catch(() => {})
    } else if (kind === 'g') {
      this.#directory.forgetInstance(rest)
    } else if (kind === 'm') {
      handlers.dropChannel(rest)
    }
  }
}
