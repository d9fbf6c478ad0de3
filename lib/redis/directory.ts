import type { Redis } from 'ioredis'
import type { RedisKeys } from './keys.js'

/**
 * Which other instance holds which user, so that an event for named users is
 * published only to the instances that hold them. Kept from the instances'
 * announcements, and rebuilt from what Redis holds (each instance's set of
 * users) at start and after an outage.
 */
export class Directory {
  /** Remote users → the instances holding them. */
  readonly #where = new Map<string, Set<string>>()

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
    const instances = await this.redis.zrange(this.keys.instances, '0', '-1')
    const live = new Set(instances)
    for (const instanceId of instances) {
      if (instanceId === this.instanceId) continue
      for (const userId of await this.redis.smembers(this.keys.usersOf(instanceId))) this.arrived(userId, instanceId)
    }
    for (const [userId, holders] of this.#where) {
      for (const instanceId of holders) if (!live.has(instanceId)) holders.delete(instanceId)
      if (holders.size === 0) this.#where.delete(userId)
    }
  }
}
