import type { Redis } from 'ioredis'
import type { RedisKeys } from './keys.js'

/**
 * Which other instance holds which user, so that an event for named users is
 * published only to the instances that hold them. Kept from the instances'
 * announcements, rebuilt from what Redis holds (each instance's set of
 * users) at start and after an outage, and reconciled with it periodically.
 */
export class Directory {
  /** Remote users → the instances holding them. */
  readonly #where = new Map<string, Set<string>>()
  /** `instance user` entries Redis did not hold at the last reconcile. */
  #missing = new Set<string>()

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly instanceId: string,
  ) {}

  /** The other instances holding a connection of the user, if any. */
  holders(userId: string): ReadonlySet<string> | undefined {
    return this.#where.get(userId)
  }

  /** An instance announced a user's first connection there. */
  arrived(userId: string, instanceId: string): void {
    let holders = this.#where.get(userId)
    if (!holders) this.#where.set(userId, (holders = new Set()))
    holders.add(instanceId)
  }

  /** An instance announced a user's last connection there closed. */
  departed(userId: string, instanceId: string): void {
    const holders = this.#where.get(userId)
    if (holders?.delete(instanceId) && holders.size === 0) this.#where.delete(userId)
  }

  /** An instance is gone: it holds nobody. */
  forgetInstance(instanceId: string): void {
    for (const [userId, holders] of this.#where) {
      if (holders.delete(instanceId) && holders.size === 0) this.#where.delete(userId)
    }
  }

  /**
   * Adds what Redis holds, and forgets instances that are gone. It adds rather
   * than replaces: an arrival announced a moment ago may not be in Redis yet,
   * and a stale entry only costs a publish the other instance ignores.
   */
  async rebuild(): Promise<void> {
    const held = await this.#read()
    this.#add(held)
    this.#forgetGone(held)
  }

  /**
   * Agrees with Redis, for announcements lost without any visible outage:
   * adds what Redis holds, and drops an entry Redis has not held at two
   * reconciles in a row (one miss may be an arrival not yet written).
   */
  async reconcile(): Promise<void> {
    const held = await this.#read()
    this.#add(held)
    this.#forgetGone(held)
    const missing = new Set<string>()
    for (const [userId, holders] of this.#where) {
      for (const instanceId of holders) {
        if (held.get(instanceId)?.has(userId)) continue
        const entry = `${instanceId} ${userId}`
        if (this.#missing.has(entry)) holders.delete(instanceId)
        else missing.add(entry)
      }
      if (holders.size === 0) this.#where.delete(userId)
    }
    this.#missing = missing
  }

  /** Adds the users Redis holds for one instance (it asked: some of its announcements were lost). */
  async addHeldBy(instanceId: string): Promise<void> {
    for (const userId of await this.redis.smembers(this.keys.usersOf(instanceId))) this.arrived(userId, instanceId)
  }

  /** What Redis holds: each live other instance → its users. */
  async #read(): Promise<Map<string, Set<string>>> {
    const instances = (await this.redis.zrange(this.keys.instances, '0', '-1')).filter((id) => id !== this.instanceId)
    const held = new Map<string, Set<string>>()
    if (instances.length === 0) return held
    const answers = await this.redis.pipeline(instances.map((id) => ['smembers', this.keys.usersOf(id)])).exec()
    instances.forEach((instanceId, i) => {
      const [error, users] = answers?.[i] ?? [new Error('no answer'), null]
      if (error) throw error
      held.set(instanceId, new Set(users as string[]))
    })
    return held
  }

  #add(held: Map<string, Set<string>>): void {
    for (const [instanceId, users] of held) for (const userId of users) this.arrived(userId, instanceId)
  }

  #forgetGone(held: Map<string, Set<string>>): void {
    for (const [userId, holders] of this.#where) {
      for (const instanceId of holders) if (!held.has(instanceId)) holders.delete(instanceId)
      if (holders.size === 0) this.#where.delete(userId)
    }
  }
}
