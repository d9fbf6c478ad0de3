import type { Redis } from 'ioredis'
import { isChosenPresence, type ChosenPresence } from '../../schemas/common.js'
import {
  CHOICE_KEPT_AFTER_WRITE_MS,
  CHOICE_KEPT_UNWRITTEN_MS,
  restored,
  type ClusterPresence,
  type Departed,
  type Settled,
} from '../presence/cluster-presence.js'
import type { RedisKeys } from './keys.js'
import { luaScript } from './lua.js'
import { CHOICE_LANDED, CHOOSE, JOIN, LEAVE, REAP, RESYNC, SETTLE } from './scripts.js'

const join = luaScript<[number, unknown]>('roomlerPresenceJoin', JOIN)
const leave = luaScript<[number, unknown]>('roomlerPresenceLeave', LEAVE)
const settle = luaScript<[string, string, string?] | null>('roomlerPresenceSettle', SETTLE)
const choose = luaScript('roomlerPresenceChoose', CHOOSE)
const choiceLanded = luaScript('roomlerPresenceChoiceLanded', CHOICE_LANDED)
const reap = luaScript<unknown[]>('roomlerPresenceReap', REAP)
const resync = luaScript<[unknown[], unknown[]]>('roomlerPresenceResync', RESYNC)

type Listener = (change: { departed: Departed[]; rejoined: string[] }) => void

function asPresence(value: unknown): ChosenPresence | undefined {
  return isChosenPresence(value) ? value : undefined
}

function departedFrom(flat: unknown[]): Departed[] {
  const departed: Departed[] = []
  for (let i = 0; i + 1 < flat.length; i += 2) departed.push({ userId: String(flat[i]), presence: asPresence(flat[i + 1]) })
  return departed
}

/**
 * Presence across instances in Redis: which instances hold each user, and
 * each present user's state, changed only by atomic scripts. While Redis is
 * unreachable it answers from this instance's own users and marks itself out
 * of step; `resync` then makes Redis agree with this instance again.
 */
export class RedisClusterPresence implements ClusterPresence {
  /** This instance's users and their state as last known here (the fallback). */
  readonly #local = new Map<string, ChosenPresence | undefined>()
  readonly #listeners: Listener[] = []
  /** Users who left here while Redis was unreachable: the other instances never heard. */
  readonly #missedDepartures = new Map<string, ChosenPresence | undefined>()
  /** A change here did not reach Redis: resync when it answers again. */
  outOfStep = false

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly instanceId: string,
  ) {}

  async join(userId: string) {
    this.#local.set(userId, undefined)
    try {
      const [first, presence] = await this.#holding(join, userId)
      const state = asPresence(presence)
      this.#local.set(userId, state)
      return { first: first === 1, presence: state }
    } catch {
      this.outOfStep = true
      return { first: true, presence: undefined }
    }
  }

  async settle(userId: string, stored: ChosenPresence | undefined): Promise<Settled | undefined> {
    try {
      const keys = [this.keys.instancesOf(userId), this.keys.presence, this.keys.choice(userId)]
      const result = await settle(this.redis, keys, [userId, stored ?? ''])
      if (!result) return undefined
      const presence = asPresence(result[0]) ?? 'online'
      if (this.#local.has(userId)) this.#local.set(userId, presence)
      return { presence, before: asPresence(result[1]), kept: asPresence(result[2]) }
    } catch {
      // Redis is away: this instance settles its own user; the resync tells the others.
      if (!this.#local.has(userId)) return undefined
      this.outOfStep = true
      const before = this.#local.get(userId)
      if (before !== undefined) return { presence: before, before }
      const presence = restored(stored)
      this.#local.set(userId, presence)
      return { presence, before }
    }
  }

  async choose(userId: string, presence: ChosenPresence, at: number) {
    const before = this.#local.get(userId)
    if (this.#local.has(userId)) this.#local.set(userId, presence)
    try {
      const keys = [this.keys.instancesOf(userId), this.keys.presence, this.keys.choice(userId)]
      const args = [userId, presence, String(at), String(CHOICE_KEPT_UNWRITTEN_MS)]
      return asPresence(await choose(this.redis, keys, args))
    } catch {
      this.outOfStep = true
      return before
    }
  }

  landed(userId: string, chosen: ChosenPresence): void {
    choiceLanded(this.redis, [this.keys.choice(userId)], [chosen, String(CHOICE_KEPT_AFTER_WRITE_MS)]).catch(() => {
      // Kept the longer time then: harmless, it is still the newest choice.
    })
  }

  async leave(userId: string) {
    const known = this.#local.get(userId)
    this.#local.delete(userId)
    try {
      const [last, presence] = await this.#holding(leave, userId)
      return { last: last === 1, presence: asPresence(presence) }
    } catch {
      this.outOfStep = true
      this.#missedDepartures.set(userId, known)
      return { last: true, presence: known }
    }
  }

  async presences(userIds: readonly string[]) {
    if (userIds.length === 0) return []
    try {
      const values = await this.redis.hmget(this.keys.presence, ...userIds)
      return values.map(asPresence)
    } catch {
      return userIds.map((userId) => this.#local.get(userId))
    }
  }

  onChange(listener: Listener): void {
    this.#listeners.push(listener)
  }

  /** Counts out a dead instance (once, whoever calls it first) and reports its users now offline. */
  async reap(deadInstanceId: string): Promise<void> {
    const flat = await reap(this.redis, [this.keys.instances, this.keys.presence], [deadInstanceId, this.keys.prefix])
    const departed = departedFrom(flat)
    if (departed.length > 0) this.#emit({ departed, rejoined: [] })
  }

  /** Makes Redis hold exactly this instance's users again, and reports what others missed. */
  async resync(now: number): Promise<void> {
    const pairs: string[] = []
    for (const [userId, presence] of this.#local) pairs.push(userId, presence ?? '')
    const keys = [this.keys.instances, this.keys.presence]
    const [flatDeparted, rejoined] = await resync(this.redis, keys, [this.instanceId, this.keys.prefix, String(now), ...pairs])
    this.outOfStep = false
    const departed = departedFrom(flatDeparted)
    // Those who left here during the outage and are held by no instance now: tell everyone.
    const missed = [...this.#missedDepartures].filter(([userId]) => !this.#local.has(userId))
    this.#missedDepartures.clear()
    if (missed.length > 0) {
      const held = await this.redis.pipeline(missed.map(([userId]) => ['exists', this.keys.instancesOf(userId)])).exec()
      missed.forEach(([userId, presence], i) => {
        const stillHeld = held?.[i]?.[1] === 1
        if (!stillHeld && !departed.some((d) => d.userId === userId)) departed.push({ userId, presence })
      })
    }
    this.#emit({ departed, rejoined: rejoined.map(String) })
  }

  async close(): Promise<void> {
    this.#listeners.length = 0
  }

  /** Runs JOIN or LEAVE: this instance starts or stops holding the user. → {first or last, presence} */
  #holding(script: typeof join, userId: string): Promise<[number, unknown]> {
    const keys = [this.keys.instancesOf(userId), this.keys.usersOf(this.instanceId), this.keys.presence]
    return script(this.redis, keys, [this.instanceId, userId])
  }

  #emit(change: { departed: Departed[]; rejoined: string[] }): void {
    for (const listener of this.#listeners) listener(change)
  }
}
