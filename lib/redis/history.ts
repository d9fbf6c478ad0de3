import type { Redis } from 'ioredis'
import type { Audience, DeliverLocally, Outbound } from '../delivery/broker.js'
import { NOT_RECOVERED, replayFor, type History, type IsMember, type Replay } from '../history/history.js'
import { newEpoch, type HistoryLimits } from '../history/history-memory.js'
import { idParts, offsetOf, parseOffset, START_ID, withOffset } from '../history/offsets.js'
import type { RedisKeys } from './keys.js'

/** KEYS: stream, epoch. ARGV: proposed epoch, max length, type, audience, payload, publish id. → the entry's id */
const APPEND = `
redis.call('SET', KEYS[2], ARGV[1], 'NX')
local epoch = redis.call('GET', KEYS[2])
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', epoch, 't', ARGV[3], 'a', ARGV[4], 'p', ARGV[5], 'i', ARGV[6])
`

/** An append whose answer is this late may still land: ioredis's words for it. */
const TIMED_OUT = 'Command timed out'
/** At most this many appends are remembered as delivered here alone (a Redis that never answers them). */
const MAX_DELIVERED_ALONE = 10_000

/** A blocked read returns after this long with nothing, so that a dead connection is noticed. */
export const READ_BLOCK_MS = 1000
/** Entries read at once by the live reader. */
const READ_COUNT = 500
/** The stream keeps at least this many entries (approximately), so that a reader that fell behind still finds its next. */
const MIN_STREAM_LENGTH = 1000

interface Entry {
  readonly id: string
  /** Who appended it: `<instance's epoch>.<sequence>`. */
  readonly publishId: string
  readonly epoch: string
  readonly type: string
  readonly audience: Audience
  readonly frame: string
}

type RawEntry = [id: string, fields: string[]]

export interface HistoryLog {
  warn(obj: object, msg: string): void
}

function encodeAudience(audience: Audience): string {
  const exclude = audience.exclude && audience.exclude.size > 0 ? [...audience.exclude] : undefined
  if ('everyone' in audience) return JSON.stringify({ e: 1, x: exclude })
  return JSON.stringify({ u: audience.users, x: exclude, c: audience.channel })
}

function decodeAudience(text: string): Audience {
  const a = JSON.parse(text) as { e?: 1; u?: string[]; x?: string[]; c?: string }
  const exclude = a.x ? new Set(a.x) : undefined
  return a.e ? { everyone: true, exclude } : { users: a.u ?? [], exclude, channel: a.c }
}

function decode([id, fields]: RawEntry): Entry {
  const f: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!
  const epoch = f.e ?? ''
  return { id, publishId: f.i ?? '', epoch, type: f.t ?? '', audience: decodeAudience(f.a ?? '{}'), frame: withOffset(f.p ?? '{}', offsetOf(epoch, id)) }
}

/**
 * The shared history of application events, and their transport between
 * instances: one Redis stream. A publish is one append (trimmed to about
 * RECOVERY_EVENTS, and by age on each heartbeat); every instance reads the
 * stream from the last entry it delivered, so an instance whose connection
 * to Redis blipped goes on from where it stopped instead of losing what was
 * published meanwhile. Offsets are the stream's ids, with the stream's epoch
 * (a key beside it, made by whichever instance needs it first): a Redis that
 * restarted empty is another history, and a resume from before it gets
 * `recovered: false`.
 *
 * When the append fails (Redis unreachable), the event still reaches this
 * instance's connections, with an offset of no shared history (a resume from
 * it is not recovered): other instances miss it, as contract section 7 allows.
 */
export class RedisHistory implements History {
  /** The epoch of the stream as last read here (null: not known yet). */
  #epoch: string | null = null
  /** The last entry delivered here. */
  #lastId = START_ID
  /** Events delivered here alone while the append failed: their own epoch, never a stream's. */
  readonly #unsharedEpoch = newEpoch()
  #unshared = 0
  /** Appends of this instance: each gets its own publish id. */
  #appended = 0
  /**
   * Publish ids of appends that timed out and were delivered here at once:
   * they may still land in the stream, and the reader must not deliver them
   * here a second time.
   */
  readonly #deliveredAlone = new Set<string>()
  #deliver: DeliverLocally | null = null
  #hearing = false
  #closed = false
  /** The reader must look at the epoch again (Redis may have restarted empty). */
  #checkEpoch = true
  readonly #proposedEpoch = newEpoch()

  constructor(
    private readonly redis: Redis,
    private readonly reader: Redis,
    private readonly keys: RedisKeys,
    private readonly limits: HistoryLimits,
    private readonly log: HistoryLog,
  ) {
    // EVALSHA, not the script's text with every event.
    if (!('roomlerHistoryAppend' in redis)) redis.defineCommand('roomlerHistoryAppend', { numberOfKeys: 2, lua: APPEND })
  }

  /** Whether the reader is reading: events of every instance reach this one's connections. */
  get hearing(): boolean {
    return this.#hearing
  }

  /** Starts reading the stream from its current end. */
  start(deliver: DeliverLocally): void {
    this.#deliver = deliver
    void this.#read()
  }

  /** Appends an event; the reader delivers it (here too), in the stream's order. */
  append(audience: Audience, event: Outbound): void {
    const max = String(Math.max(this.limits.events, MIN_STREAM_LENGTH))
    const publishId = `${this.#proposedEpoch}.${++this.#appended}`
    ;(this.redis as Redis & { roomlerHistoryAppend: (...args: string[]) => Promise<string> })
      .roomlerHistoryAppend(this.keys.history, this.keys.historyEpoch, this.#proposedEpoch, max, event.type, encodeAudience(audience), event.payload, publishId)
      .catch((error: unknown) => {
        if (this.#unshared === 0) this.log.warn({ err: error }, 'could not append an application event to the shared history; delivered here only')
        // A late answer is no answer: the append may land all the same, and then it is not delivered here again.
        if (error instanceof Error && error.message === TIMED_OUT) {
          if (this.#deliveredAlone.size >= MAX_DELIVERED_ALONE) this.#deliveredAlone.delete(this.#deliveredAlone.values().next().value!)
          this.#deliveredAlone.add(publishId)
        }
        const offset = offsetOf(this.#unsharedEpoch, `0-${++this.#unshared}`)
        this.#deliver?.(audience, { ...event, payload: withOffset(event.payload, offset), offset })
      })
  }

  end(): string {
    return this.#epoch === null ? offsetOf(this.#unsharedEpoch, START_ID) : offsetOf(this.#epoch, this.#lastId)
  }

  async replay(since: string, userId: string, isMember: IsMember): Promise<Replay> {
    const position = parseOffset(since)
    const { events, windowMs } = this.limits
    if (position === null || events === 0) return NOT_RECOVERED
    const start = position.id === START_ID
    if (!start && Date.now() - position.ms > windowMs) return NOT_RECOVERED
    try {
      const key = this.keys.history
      const [[, epoch], [, at], [, after]] = (await this.redis
        .pipeline()
        .get(this.keys.historyEpoch)
        .xrange(key, position.id, position.id)
        .xrange(key, `(${position.id}`, '+', 'COUNT', events + 1)
        .exec()) as [[null, string | null], [null, RawEntry[]], [null, RawEntry[]]]
      if (epoch !== position.epoch) return NOT_RECOVERED
      // `since` itself is still kept, so everything after it is (the stream is trimmed from its oldest end).
      if (start ? !(await this.#untrimmed()) : at.length === 0) return NOT_RECOVERED
      if (after.length > events) return NOT_RECOVERED
      const missed = after.map(decode)
      if (missed.some((entry) => entry.epoch !== epoch)) return NOT_RECOVERED
      if (start && missed.length > 0 && Date.now() - idParts(missed[0]!.id)[0] > windowMs) return NOT_RECOVERED
      const upTo = offsetOf(epoch, missed.at(-1)?.id ?? position.id)
      return { recovered: true, frames: await replayFor(missed, userId, isMember), upTo }
    } catch {
      return NOT_RECOVERED
    }
  }

  /** Drops what is older than RECOVERY_WINDOW_MS (each heartbeat; approximate, as Redis trims whole nodes). */
  async trim(): Promise<void> {
    await this.redis.xtrim(this.keys.history, 'MINID', '~', String(Math.max(0, Date.now() - this.limits.windowMs)))
  }

  close(): void {
    this.#closed = true
    this.#deliver = null
  }

  /** Nothing was ever trimmed from the stream (a resume from its very start). */
  async #untrimmed(): Promise<boolean> {
    const info = (await this.redis.call('XINFO', 'STREAM', this.keys.history).catch(() => null)) as unknown[] | null
    if (info === null) return true
    const field = (name: string) => info[info.indexOf(name) + 1]
    return field('length') === field('entries-added')
  }

  /** The reader's loop: from the last entry delivered here, in order, for as long as the instance runs. */
  async #read(): Promise<void> {
    let failures = 0
    while (!this.#closed) {
      try {
        if (this.#checkEpoch) await this.#readEpoch()
        // Reading (again): whatever was appended meanwhile comes with this read.
        this.#hearing = true
        const result = (await this.reader.xread('COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', this.keys.history, this.#lastId)) as
          | [string, RawEntry[]][]
          | null
        failures = 0
        if (result !== null) for (const raw of result[0]![1]) this.#live(raw)
      } catch (error) {
        if (this.#closed) return
        if (this.#hearing) this.log.warn({ err: error }, 'stopped reading the shared history; going on from the last event read when Redis answers')
        this.#hearing = false
        this.#checkEpoch = true
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * ++failures, 1000)))
      }
    }
  }

  /** The stream's epoch; a new one (Redis restarted empty) is read from its start. */
  async #readEpoch(): Promise<void> {
    await this.reader.set(this.keys.historyEpoch, this.#proposedEpoch, 'NX')
    const epoch = await this.reader.get(this.keys.historyEpoch)
    if (epoch === null) throw new Error('no epoch')
    if (this.#epoch === null) {
      // First contact: live from the stream's current end.
      const last = (await this.reader.xrevrange(this.keys.history, '+', '-', 'COUNT', 1)) as RawEntry[]
      this.#lastId = last[0]?.[0] ?? START_ID
    } else if (epoch !== this.#epoch) {
      this.#lastId = START_ID
    }
    this.#epoch = epoch
    this.#checkEpoch = false
  }

  #live(raw: RawEntry): void {
    const entry = decode(raw)
    this.#lastId = entry.id
    if (entry.epoch !== this.#epoch) this.#epoch = entry.epoch
    if (this.#deliveredAlone.size > 0 && this.#deliveredAlone.delete(entry.publishId)) return
    this.#deliver?.(entry.audience, { type: entry.type, payload: entry.frame, application: true, offset: offsetOf(entry.epoch, entry.id) })
  }
}
