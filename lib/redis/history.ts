import type { Redis } from 'ioredis'
import type { Audience, DeliverLocally, Outbound } from '../delivery/broker.js'
import { MAX_WAITING_REPLAYS, NOT_RECOVERED, REPLAY_TURN_WAIT_MS, REPLAY_WAIT_MS, type History, type Replay, type StillWanted } from '../history/history.js'
import { Turns } from '../history/turns.js'
import { withTimeout } from '../support/timeout.js'
import { newEpoch, type HistoryLimits } from '../history/history-memory.js'
import { idParts, offsetOf, parseOffset, START_ID, withOffset } from '../history/offsets.js'
import { decode, encodeAudience, type RawEntry } from './history-entries.js'
import { CONCURRENT_REPLAYS, readMissed, REPLAY_MAX_BYTES } from './history-replay.js'
import type { RedisKeys } from './keys.js'
import { shareReadPosition } from './history-readers.js'
import { luaScript } from './lua.js'

/**
 * KEYS: stream, epoch, count. ARGV: proposed epoch, length by count, type,
 * audience, payload, publish id, hard length (by bytes), the oldest live
 * reader's `<n>` (-1: none known). The stream keeps the length by count, or
 * more: every entry after the oldest live reader's (they are the transport
 * too), but never more than the hard length. → the entry's id, `<Redis's time in ms>-<count>`:
 * the count of entries ever appended, so that a resume knows from the
 * stream's own counts (entries added, length) whether anything after its
 * `since` was trimmed. Should an id not come after the last (Redis's clock
 * went back, or the count was lost), the next millisecond after the last
 * entry is taken and the count set again from the stream's.
 */
const APPEND = `
redis.call('SET', KEYS[2], ARGV[1], 'NX')
local epoch = redis.call('GET', KEYS[2])
local n = redis.call('INCR', KEYS[3])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local byCount, hard, reader = tonumber(ARGV[2]), tonumber(ARGV[7]), tonumber(ARGV[8])
local function add(id, count)
  local keep = byCount
  if reader >= 0 and count - reader > keep then keep = count - reader end
  if keep > hard then keep = hard end
  return redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', keep, id, 'e', epoch, 't', ARGV[3], 'a', ARGV[4], 'p', ARGV[5], 'i', ARGV[6])
end
local id = add(string.format('%d-%d', ms, n), n)
if type(id) == 'table' and id.err then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  local last, added = '0-0', 0
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = info[i + 1] elseif info[i] == 'entries-added' then added = info[i + 1] end
  end
  local lastMs = tonumber(string.match(last, '^(%d+)-'))
  redis.call('SET', KEYS[3], added + 1)
  id = add(string.format('%d-%d', math.max(ms, lastMs + 1), added + 1), added + 1)
  if type(id) == 'table' and id.err then return redis.error_reply(id.err) end
end
return id
`

const appendEntry = luaScript<string>('roomlerHistoryAppend', APPEND)

/** An append whose answer is this late may still land: ioredis's words for it. */
const TIMED_OUT = 'Command timed out'
/** At most this many appends are remembered as delivered here alone (a Redis that never answers them). */
const MAX_DELIVERED_ALONE = 10_000

/** A blocked read returns after this long with nothing, so that a dead connection is noticed. */
export const READ_BLOCK_MS = 1000
/** Entries read at once by the live reader. */
const READ_COUNT = 500
/**
 * The stream keeps at least this many entries (approximately; fewer when
 * RECOVERY_MAX_BYTES says so), whatever RECOVERY_EVENTS, even 0: it is the
 * transport too, and a host publishing a burst in a loop gets ahead of every
 * reader (500 entries a read); a reader that fell behind by less still finds
 * its next.
 */
const MIN_STREAM_LENGTH = 10_000
/** Whatever the bytes, the stream keeps this many entries: it is the transport too, and a reader behind by fewer misses none. */
const FLOOR_STREAM_LENGTH = 100
/** What an entry costs besides its fields (Redis's own bookkeeping), for the byte bound. */
const ENTRY_OVERHEAD = 64
/** How fast the average entry size follows the sizes appended here (a weight of 1/8 for the newest). */
const SIZE_WEIGHT = 1 / 8

export interface HistoryLog {
  warn(obj: object, msg: string): void
}

/** The reader found entries after its last one trimmed away: `lost` events this instance's connections never got. */
export type OnGap = (lost: number) => void

/**
 * The shared history of application events, and their transport between
 * instances: one Redis stream. A publish is one append (trimmed to about
 * RECOVERY_EVENTS and RECOVERY_MAX_BYTES, and by age on each heartbeat); every instance reads the
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
  /** Names this instance's appends (publish ids); never an epoch. */
  readonly #tag = newEpoch()
  /** The average size of an entry appended here: RECOVERY_MAX_BYTES over it is the stream's length. */
  #averageBytes = 0
  /** The oldest position (`<n>`) of a live reader, as of the last heartbeat: appends trim no further by count. */
  #oldestReader: number | null = null
  /** Resumes read the stream a few at a time, and wait for it within bounds (how long, how many). */
  readonly #replays = new Turns(CONCURRENT_REPLAYS, MAX_WAITING_REPLAYS, REPLAY_TURN_WAIT_MS)

  constructor(
    private readonly redis: Redis,
    private readonly reader: Redis,
    private readonly keys: RedisKeys,
    private readonly limits: HistoryLimits,
    private readonly log: HistoryLog,
    /** Resumes read the stream here: not on the connection of the heartbeat and the appends. */
    private readonly replayer: Redis = redis,
    /** Told when the reader fell so far behind that entries it had not read were trimmed. */
    private readonly onGap: OnGap = () => {},
  ) {}

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
    const publishId = `${this.#tag}.${++this.#appended}`
    const encoded = encodeAudience(audience)
    const { byCount, hard } = this.#lengths(ENTRY_OVERHEAD + encoded.length + event.payload.length + event.type.length + publishId.length)
    // A fresh epoch proposed each time: a Redis that restarted empty gets one no offset ever had.
    const keys = [this.keys.history, this.keys.historyEpoch, this.keys.historyCount]
    const args = [newEpoch(), String(byCount), event.type, encoded, event.payload, publishId, String(hard), String(this.#oldestReader ?? -1)]
    appendEntry(this.redis, keys, args)
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

  async replay(since: string, userId: string, wanted: StillWanted): Promise<Replay> {
    const position = parseOffset(since)
    const { events, replayMaxBytes = REPLAY_MAX_BYTES } = this.limits
    if (position === null || events === 0) return NOT_RECOVERED
    // Nothing missed: `since` is the last entry delivered here, and whatever
    // comes after it reaches the connection live (it is held from now on).
    // The common case of a storm after a blip; no turn, no read. Only while
    // the reader reads: during an outage a resume is `recovered: false`.
    if (this.#hearing && position.epoch === this.#epoch && position.id === this.#lastId) return { recovered: true, frames: [], upTo: since }
    try {
      // The stream's time limit runs from the turn, not from the resume: a
      // resume that queued behind others still gets all of it.
      const read = await this.#replays.run(
        // A read that outlives the limit (a hung Redis) gives the turn back all the same; it stops at its next page,
        // as does the read of a connection that closed (reading for nobody is Redis's time and ours for nothing).
        async () => (wanted() ? withTimeout(readMissed(this.replayer, this.keys, { events, replayMaxBytes }, position, userId, Date.now() + REPLAY_WAIT_MS, wanted), REPLAY_WAIT_MS) : null),
        null,
        wanted,
      )
      return read === null ? NOT_RECOVERED : { recovered: true, frames: read.frames, upTo: read.upTo }
    } catch {
      return NOT_RECOVERED
    }
  }

  /**
   * The stream's lengths after an append of `bytes`: by count,
   * RECOVERY_EVENTS (or the transport's minimum); and the hard one, what
   * RECOVERY_MAX_BYTES holds at the average size of the entries appended
   * here, which wins over the count and over the readers (see the script).
   */
  #lengths(bytes: number): { byCount: number; hard: number } {
    this.#averageBytes = this.#averageBytes === 0 ? bytes : this.#averageBytes + (bytes - this.#averageBytes) * SIZE_WEIGHT
    const hard = Math.max(FLOOR_STREAM_LENGTH, Math.floor(this.limits.maxBytes / this.#averageBytes))
    return { byCount: Math.min(Math.max(this.limits.events, MIN_STREAM_LENGTH), hard), hard }
  }

  /**
   * Records where this instance's reader is (each heartbeat) and learns the
   * oldest live reader's position: no append trims past it by count.
   */
  async shareReadPosition(instanceId: string, aliveSince: number): Promise<void> {
    // A reader that has delivered nothing yet has no place to keep (it starts at the end, not at 0). One whose
    // connection blipped keeps its place: it resumes from it (contract section 7), within RECOVERY_MAX_BYTES.
    this.#oldestReader = await shareReadPosition(this.redis, this.keys, instanceId, this.#lastId === START_ID ? null : this.#lastId, aliveSince)
  }

  /** The oldest live reader's `<n>` as last learned (null: none known yet), for tests. */
  get oldestReader(): number | null {
    return this.#oldestReader
  }

  /** Drops what is older than RECOVERY_WINDOW_MS (each heartbeat; approximate, as Redis trims whole nodes). */
  async trim(): Promise<void> {
    await this.redis.xtrim(this.keys.history, 'MINID', '~', String(Math.max(0, Date.now() - this.limits.windowMs)))
  }

  close(): void {
    this.#closed = true
    this.#deliver = null
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
        const entries = result?.[0]![1]
        if (entries === undefined || entries.length === 0) continue
        // One read is consecutive entries: a gap can only be before its first.
        const lost = await this.#lostBefore(entries[0]![0])
        if (lost > 0) this.onGap(lost)
        for (const raw of entries) this.#live(raw)
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
    await this.reader.set(this.keys.historyEpoch, newEpoch(), 'NX')
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

  /**
   * How many entries between the last one delivered here and `id` were
   * trimmed before this reader got to them (0: none). Ids are `<ms>-<n>`, n
   * counting every append, so a jump in n is entries missing; and since
   * trimming takes the oldest first, they were trimmed only if the last one
   * delivered is gone too (a jump alone may be an append that failed after
   * taking its number). Not judged from the start of a stream.
   */
  async #lostBefore(id: string): Promise<number> {
    if (this.#lastId === START_ID) return 0
    const lastN = idParts(this.#lastId)[1]
    const n = idParts(id)[1]
    if (n <= lastN + 1) return 0
    const still = (await this.reader.xrange(this.keys.history, this.#lastId, this.#lastId)) as RawEntry[]
    return still.length > 0 ? 0 : n - lastN - 1
  }

  #live(raw: RawEntry): void {
    const entry = decode(raw)
    this.#lastId = entry.id
    if (entry.epoch !== this.#epoch) this.#epoch = entry.epoch
    if (this.#deliveredAlone.size > 0 && this.#deliveredAlone.delete(entry.publishId)) return
    this.#deliver?.(entry.audience, { type: entry.type, payload: entry.frame, application: true, offset: offsetOf(entry.epoch, entry.id) })
  }
}
