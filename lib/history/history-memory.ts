import { randomBytes } from 'node:crypto'
import type { Audience } from '../delivery/broker.js'
import { NOT_RECOVERED, replayFor, type History, type IsMember, type Replay } from './history.js'
import { offsetOf, parseOffset, START_ID, withOffset } from './offsets.js'

export interface HistoryLimits {
  /** RECOVERY_WINDOW_MS: how far back a resume may reach. */
  windowMs: number
  /** RECOVERY_EVENTS: how many events are kept; 0 keeps none. */
  events: number
}

interface Entry {
  readonly seq: number
  readonly ms: number
  readonly audience: Audience
  readonly frame: string
}

/** A fresh epoch: a history that began now, unlike any before it. */
export function newEpoch(): string {
  return randomBytes(5).toString('hex')
}

/**
 * One instance's history, in process: the last RECOVERY_EVENTS application
 * events of the last RECOVERY_WINDOW_MS, with the audience they were
 * published to (the same objects delivery used: nothing is copied). Its
 * epoch is new at every process start, so an offset from before a restart
 * is of another history. Ids are `<ms>-<seq>` with one sequence for the
 * whole process, so the place of an offset in the log is its sequence.
 */
export class MemoryHistory implements History {
  readonly epoch = newEpoch()
  #entries: Entry[] = []
  /** Index of the oldest kept entry in #entries (dropped ones are compacted away in bulk). */
  #head = 0
  /** The sequence of the last event appended (0: none yet). */
  #lastSeq = 0
  #lastMs = 0

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
      this.#entries.push({ seq, ms, audience, frame })
      this.#trim(ms)
    }
    return { offset, frame }
  }

  end(): string {
    return offsetOf(this.epoch, this.#lastSeq === 0 ? START_ID : `${this.#lastMs}-${this.#lastSeq}`)
  }

  async replay(since: string, userId: string, isMember: IsMember): Promise<Replay> {
    const position = parseOffset(since)
    if (position === null || position.epoch !== this.epoch || this.limits.events === 0) return NOT_RECOVERED
    const now = this.now()
    this.#trim(now)
    const start = position.id === START_ID
    // Not one this history gave: from the future, or a sequence it never paired with that time.
    if (!start && (position.seq > this.#lastSeq || position.ms > this.#lastMs)) return NOT_RECOVERED
    const oldest = this.#entries[this.#head]
    // The first event after `since` is gone (trimmed by count or age): the history no longer reaches back.
    const firstKept = oldest?.seq ?? this.#lastSeq + 1
    if (position.seq + 1 < firstKept) return NOT_RECOVERED
    if (!start && now - position.ms > this.limits.windowMs) return NOT_RECOVERED
    const from = this.#head + Math.max(0, position.seq + 1 - firstKept)
    const missed = this.#entries.slice(from)
    try {
      // The log is read at once: what is appended from now on is live.
      const upTo = this.end()
      return { recovered: true, frames: await replayFor(missed, userId, isMember), upTo }
    } catch {
      return NOT_RECOVERED
    }
  }

  /** How many events are kept (for tests and metrics). */
  get size(): number {
    return this.#entries.length - this.#head
  }

  #trim(now: number): void {
    const entries = this.#entries
    let head = this.#head
    while (entries.length - head > this.limits.events) head++
    while (head < entries.length && now - entries[head]!.ms > this.limits.windowMs) head++
    // Compact in bulk, so that trimming is O(1) per event on average.
    if (head > 1024 && head * 2 > entries.length) {
      this.#entries = entries.slice(head)
      head = 0
    }
    this.#head = head
  }
}
