import type { PresenceRecord, PresenceStore } from './presence-store.js'
import { Backoff } from '../support/retry.js'

export interface WriterLog {
  warn(obj: object, msg: string): void
}

/**
 * Writes presence to the store in the order it happened, one write per user in
 * flight, later fields folded into what is still waiting; a failed write is
 * kept and retried with backoff until it lands (the database may be down).
 */
export class PresenceWriter {
  readonly #waiting = new Map<string, PresenceRecord>()
  readonly #inFlight = new Map<string, { write: Promise<void>; record: PresenceRecord }>()
  #retryTimer: NodeJS.Timeout | null = null
  readonly #backoff: Backoff
  #failures = 0
  /** Told of each write that landed (presence keeps the newest choice beside the store until then). */
  #landed: (userId: string, record: PresenceRecord) => void = () => {}

  constructor(
    private readonly store: PresenceStore,
    private readonly log: WriterLog,
    private readonly onFailure: () => void = () => {},
    minRetryMs?: number,
    maxRetryMs?: number,
  ) {
    this.#backoff = new Backoff(minRetryMs, maxRetryMs)
  }

  record(userId: string, record: PresenceRecord): void {
    const waiting = this.#waiting.get(userId)
    this.#waiting.set(userId, waiting ? { ...waiting, ...record } : record)
    if (!this.#inFlight.has(userId) && this.#retryTimer === null) this.#flushUser(userId)
  }

  /** Hears each write once it landed. */
  onLanded(listener: (userId: string, record: PresenceRecord) => void): void {
    this.#landed = listener
  }

  /** What is recorded for the user but has not landed yet, so a read of the store can be corrected. */
  unwritten(userId: string): PresenceRecord | undefined {
    const inFlight = this.#inFlight.get(userId)?.record
    const waiting = this.#waiting.get(userId)
    return inFlight && waiting ? { ...inFlight, ...waiting } : (waiting ?? inFlight)
  }

  /** Writes that have not landed yet. */
  get backlog(): number {
    return this.#waiting.size + this.#inFlight.size
  }

  /** Resolves when everything recorded so far has landed, or after `timeoutMs`. Returns whether all landed. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (this.backlog > 0 && Date.now() < deadline) {
      if (this.#retryTimer !== null) this.#retryNow()
      const inFlight = [...this.#inFlight.values()].map((entry) => entry.write)
      const wait = Math.max(1, deadline - Date.now())
      await Promise.race([
        inFlight.length > 0 ? Promise.allSettled(inFlight) : new Promise((r) => setTimeout(r, Math.min(wait, 50))),
        new Promise((r) => setTimeout(r, wait).unref()),
      ])
    }
    return this.backlog === 0
  }

  close(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
  }

  #flushUser(userId: string): void {
    const record = this.#waiting.get(userId)
    if (!record) return
    this.#waiting.delete(userId)
    const write = this.store.write(userId, record).then(
      () => {
        this.#inFlight.delete(userId)
        this.#failures = 0
        this.#backoff.reset()
        this.#landed(userId, record)
        if (this.#waiting.has(userId) && this.#retryTimer === null) this.#flushUser(userId)
      },
      (error: unknown) => {
        this.#inFlight.delete(userId)
        this.onFailure()
        // Put it back under anything recorded since: newer fields win.
        const newer = this.#waiting.get(userId)
        this.#waiting.set(userId, newer ? { ...record, ...newer } : record)
        if (this.#failures++ === 0) this.log.warn({ err: error }, 'presence write failed; retrying until the database answers')
        this.#scheduleRetry()
      },
    )
    this.#inFlight.set(userId, { write, record })
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== null) return
    this.#retryTimer = setTimeout(() => this.#retryNow(), this.#backoff.next())
    this.#retryTimer.unref()
  }

  #retryNow(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
    for (const userId of [...this.#waiting.keys()]) if (!this.#inFlight.has(userId)) this.#flushUser(userId)
  }
}
