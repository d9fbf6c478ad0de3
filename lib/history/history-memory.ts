import { randomBytes } from 'node:crypto'
import type { Audience } from '../delivery/broker.js'
import { NOT_RECOVERED, type History, type Replay } from './history.js'
import { offsetOf, parseOffset, START_ID, withOffset, type Position } from './offsets.js'

export interface HistoryLimits {
  /** RECOVERY_WINDOW_MS: how long an event is kept. */
  windowMs: number
  /** RECOVERY_EVENTS: how many events are kept; 0 keeps none. */
  events: number
  /** RECOVERY_MAX_BYTES: about how many bytes the kept events may take (frames and audiences); the oldest go first. */
  maxBytes: number
  /** Over Redis: a resume that would read more than this many bytes of history gets `recovered: false` (REPLAY_MAX_BYTES unless given). */
  replayMaxBytes?: number
}

/**
 * What a kept event is estimated to cost besides its frame and audience, and
 * what each user of an audience costs (a set slot and the id it keeps alive).
 * Estimates, not measurements: they make RECOVERY_MAX_BYTES a bound of the
 * right order, at no cost per event.
 */
const ENTRY_BYTES = 128
export const USER_BYTES = 64

interface Entry {
  readonly seq: number
  readonly ms: number
  readonly frame: string
  /** Who it was addressed to, as a set (undefined: everyone). */
  readonly users: ReadonlySet<string> | undefined
  readonly exclude: ReadonlySet<string> | undefined
  readonly channel: string | undefined
  /** Its estimated size, the audience's set aside (that is counted once per set). */
  readonly bytes: number
}

/** A fresh epoch: a history that began now, unlike any before it. */
export function newEpoch(): string {
  return randomBytes(5).toString('hex')
}

/**
 * One instance's history, in process: the application events of the last
 * RECOVERY_WINDOW_MS, at most RECOVERY_EVENTS of them and about
 * RECOVERY_MAX_BYTES, with who they were addressed to. An audience's list is
 * turned into a set once when it is kept (a channel's cached list, shared by
 * its events, into one set shared by them too), so a resume tests membership
 * in O(1) per event. Its epoch is new at every process start, so an offset
 * from before a restart is of another history. Ids are `<ms>-<seq>` with one
 * sequence for the whole process, so the place of an offset in the log is
 * its sequence.
 */
export class MemoryHistory implements History {
  readonly epoch = newEpoch()
  #entries: Entry[] = []
  /** Index of the oldest kept entry in #entries (dropped ones are compacted away in bulk). */
  #head = 0
  /** The sequence of the last event appended (0: none yet). */
  #lastSeq = 0
  #lastMs = 0
  /** The newest event dropped (0: none yet): an offset naming it is still one this history gave. */
  #droppedSeq = 0
  #droppedMs = 0
  /** The estimated size of what is kept. */
  #bytes = 0
  /** The set of each audience list kept (a channel's cached list is one list for many events). */
  readonly #sets = new WeakMap<readonly string[], ReadonlySet<string>>()
  /** How many kept entries use each set: it is counted in #bytes once. */
  readonly #setUses = new Map<ReadonlySet<string>, number>()

  constructor(
    private readonly limits: HistoryLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Gives an event its offset and keeps it; returns the frame with the offset. */
  append(audience: Audience, payload: string): { offset: string; frame: string } {
    // Never backwards, even if the clock is: offsets of one history are in order.
    const ms = Math.max(this.now(), this.#lastMs)
    this.#lastMs = ms
    const seq = ++this.#lastSeq
    const offset = offsetOf(this.epoch, `${ms}-${seq}`)
    const frame = withOffset(payload, offset)
    if (this.limits.events > 0) {
      const users = 'users' in audience ? this.#setOf(audience.users) : undefined
      const exclude = audience.exclude !== undefined && audience.exclude.size > 0 ? audience.exclude : undefined
      const channel = 'users' in audience ? audience.channel : undefined
      const bytes = ENTRY_BYTES + frame.length + (exclude?.size ?? 0) * USER_BYTES
      this.#entries.push({ seq, ms, frame, users, exclude, channel, bytes })
      this.#bytes += bytes
      this.#trim(ms)
    }
    return { offset, frame }
  }

  end(): string {
    return offsetOf(this.epoch, this.#lastSeq === 0 ? START_ID : `${this.#lastMs}-${this.#lastSeq}`)
  }

  async replay(since: string, userId: string): Promise<Replay> {
    const position = parseOffset(since)
    if (position === null || position.epoch !== this.epoch || this.limits.events === 0) return NOT_RECOVERED
    this.#trim(this.now())
    if (!this.#gave(position)) return NOT_RECOVERED
    // Recovered when nothing after `since` was dropped (by count, bytes or age),
    // however old `since` itself is: a quiet history loses nothing.
    const firstKept = this.#entries[this.#head]?.seq ?? this.#lastSeq + 1
    if (position.seq + 1 < firstKept) return NOT_RECOVERED
    // The log is read at once: what is appended from now on is live. At most
    // RECOVERY_EVENTS entries, O(1) each: the replay's whole cost.
    const frames: string[] = []
    const entries = this.#entries
    for (let i = this.#head + Math.max(0, position.seq + 1 - firstKept); i < entries.length; i++) {
      const entry = entries[i]!
      if (entry.exclude?.has(userId) || (entry.users !== undefined && !entry.users.has(userId))) continue
      frames.push(entry.frame)
    }
    return { recovered: true, frames, upTo: this.end() }
  }

  /** How many events are kept (for tests and metrics). */
  get size(): number {
    return this.#entries.length - this.#head
  }

  /** The estimated size of the kept events (for tests and metrics). */
  get bytes(): number {
    return this.#bytes
  }

  /** Whether this history gave `position`: its sequence with its very time (a made-up pair is not an offset). */
  #gave(position: Position): boolean {
    const { seq, ms } = position
    if (position.id === START_ID) return true
    if (seq > this.#lastSeq) return false
    if (seq === this.#lastSeq) return ms === this.#lastMs
    const firstKept = this.#entries[this.#head]?.seq ?? this.#lastSeq + 1
    if (seq >= firstKept) return this.#entries[this.#head + seq - firstKept]!.ms === ms
    return seq === this.#droppedSeq && ms === this.#droppedMs
  }

  #setOf(users: readonly string[]): ReadonlySet<string> {
    let set = this.#sets.get(users)
    if (set === undefined) this.#sets.set(users, (set = new Set(users)))
    const uses = this.#setUses.get(set) ?? 0
    if (uses === 0) this.#bytes += set.size * USER_BYTES
    this.#setUses.set(set, uses + 1)
    return set
  }

  #drop(entry: Entry): void {
    this.#bytes -= entry.bytes
    this.#droppedSeq = entry.seq
    this.#droppedMs = entry.ms
    const set = entry.users
    if (set === undefined) return
    const uses = this.#setUses.get(set)!
    if (uses > 1) {
      this.#setUses.set(set, uses - 1)
      return
    }
    this.#setUses.delete(set)
    this.#bytes -= set.size * USER_BYTES
  }

  #trim(now: number): void {
    const { events, maxBytes, windowMs } = this.limits
    const entries = this.#entries
    let head = this.#head
    while (head < entries.length && (entries.length - head > events || this.#bytes > maxBytes || now - entries[head]!.ms > windowMs)) {
      this.#drop(entries[head]!)
      // No reference to a dropped entry's frame or audience is left behind.
      entries[head] = undefined as unknown as Entry
      head++
    }
    // Compact in bulk, so that trimming is O(1) per event on average.
    if (head > 1024 && head * 2 > entries.length) {
      this.#entries = entries.slice(head)
      head = 0
    }
    this.#head = head
  }
}
