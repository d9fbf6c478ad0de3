/**
 * Where this client stands in the service's history of application events
 * (contract section 8, missed events): the offset of the last application
 * event it delivered, or the one `connected` gave. A reconnect sends it as
 * `?since=`; the server then replays what was missed (`recovered: true`) or
 * says it cannot (a gap: the application refetches). Offsets are opaque: the
 * client keeps the last one and never compares two; the server guarantees
 * each event once, in order, so nothing is filtered here.
 */
import type { ConnectedMessage } from './protocol.js'

/** What a reconnect recovered, told to `onResume` listeners when `connected` arrives, before any replayed event. */
export interface Resume {
  /**
   * `true`: every application event missed since `since` follows, in order and
   * each once, then the live ones. `false`: a gap (the history no longer
   * reaches back, a restart, or no offset to resume from): refetch what the
   * page shows over your API; later events follow live.
   */
  recovered: boolean
  /** The offset the client resumed from; undefined when it had none (a server that gives no offsets). */
  since: string | undefined
}

export class ResumePoint {
  #offset: string | undefined
  /** The `since` the current attempt was opened with. */
  #asked: string | undefined
  /** Whether some connection already reached `connected`: a later one without `since` has missed events too. */
  #connectedBefore: boolean

  /** `since`: an offset kept from an earlier life of the page, to resume from on the first connect. */
  constructor(since?: string) {
    this.#offset = since
    this.#connectedBefore = since !== undefined
  }

  /** The last offset: of the last application event delivered, or the one `connected` gave. */
  get offset(): string | undefined {
    return this.#offset
  }

  /** The `since` for an upgrade about to be opened (undefined: none to resume from). */
  sinceForAttempt(): string | undefined {
    this.#asked = this.#offset
    return this.#asked
  }

  /** A frame other than `connected` arrived: an application event's offset becomes the point. */
  heard(frame: object): void {
    const { offset } = frame as { offset?: unknown }
    if (typeof offset === 'string') this.#offset = offset
  }

  /** `connected` arrived: the point moves to its offset; what a reconnect recovered, or undefined on a first connect. */
  connected(data: ConnectedMessage['data']): Resume | undefined {
    const since = this.#asked
    const resumed = since !== undefined || this.#connectedBefore
    this.#connectedBefore = true
    this.#offset = data.offset
    return resumed ? { recovered: since !== undefined && data.recovered === true, since } : undefined
  }
}
