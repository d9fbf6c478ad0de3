import type { WebSocket } from 'ws'
import { Closes, type CloseKind, type CloseReason } from './close-codes.js'
import type { Socket } from 'node:net'
import { OutFrame, rawSender, rawSocket, writeFrame, type RawSender } from './wire.js'
import { batchWrites, flushWrites } from './write-batch.js'
import { FrameLanes } from '../protocol/lanes.js'
import { parseOffset, placeOf, type Position } from '../history/offsets.js'

let nextConnectionId = 1

/** The per-connection limits of contract section 6. */
export interface ConnectionLimits {
  maxBufferedBytes: number
  rateLimitPerSec: number
  rateLimitBurst: number
}

/** A frame as it arrived, kept until it can be handled. */
export interface HeldFrame {
  data: Buffer
  isBinary: boolean
}

/** After this many rate-limited messages in a row the connection is closed (1008). */
export const MAX_DROPS_IN_A_ROW = 50

/**
 * Live application events a resuming connection holds at most while its
 * replay is read (and at most MAX_BUFFERED_BYTES of them, as if written);
 * past either, 1013 (resume again).
 */
export const MAX_HELD_FOR_RESUME = 10_000

/** How long a slow consumer closed with 1013 may take to read up before its socket is cut. */
const SLOW_CONSUMER_GRACE_MS = 10_000

/** What the rate limit makes of one more frame. */
export type RateVerdict = 'admitted' | 'dropped' | 'exceeded'

/**
 * One open WebSocket of one user. The registry holds these; delivery writes
 * already-serialized payloads to them. Its state is its own: other modules
 * change it only through these methods.
 */
export class Connection {
  readonly id = nextConnectionId++
  /** Why the server closed it; a close the server did not start is the client's. */
  #closeReason: CloseReason = 'client'
  /** Registered from the upgrade on (so it counts against the per-user limit), but deliveries wait for `open`: `connected` must be the first message. */
  #state: 'opening' | 'open' | 'closed' = 'opening'
  /** Its close has been accounted for: registry, typing, presence, metrics. */
  #released = false
  /** When the token that admitted (or last refreshed) this connection expires, in epoch ms. */
  #expiresAt: number
  /** Whether a protocol Pong answered the last heartbeat Ping. */
  #alive = true
  /** Frames that arrived before `connected` went out, in order; null from then on. */
  #held: HeldFrame[] | null = []
  /** Frames refused while held (past MAX_UNHANDLED_FRAMES before `connected`), each answered once it is out. */
  #refusedWhileHeld = 0
  /** Frames waiting behind one being handled, typing and the rest apart (the protocol's; made on first use). */
  #lanes: FrameLanes | null = null
  /** Channels this connection started typing in, so that its close can stop them (made on first use: most connections never type). */
  #typingChannels: Set<string> | null = null
  #dropsInARow = 0
  #tokens: number
  #refilledAt: number
  /** A resume (`?since=`): live application events held while the missed ones are read; null otherwise. */
  #resumeHeld: OutFrame[] | null = null
  /** About how many bytes are held for the resume (their payloads' length). */
  #resumeHeldBytes = 0
  /** After a replay: a live application event at or before this offset was replayed already. Null once one after it passed. */
  #replayedUpTo: Position | null = null
  /** ws's Sender when frames built once may be written to it directly (a field, not an object per connection). */
  readonly #sender: RawSender | null
  /** ws's TCP socket, corked for the rest of a turn by the turn's second write to it (write-batch.ts). */
  readonly #wire: Socket | null
  /** The turn of the last write to it (write-batch.ts): a write in the same turn is batched. */
  #writeTurn = -1

  constructor(
    readonly userId: string,
    readonly socket: WebSocket,
    expiresAt: number,
    private readonly limits: ConnectionLimits,
  ) {
    this.#expiresAt = expiresAt
    this.#tokens = limits.rateLimitBurst
    this.#refilledAt = Date.now()
    this.#sender = rawSender(socket)
    this.#wire = rawSocket(socket)
  }

  /** The frame lanes, once a frame of this connection had to wait (null before). */
  get lanes(): FrameLanes | null {
    return this.#lanes
  }

  /** The frame lanes, made the first time a frame has to wait: most connections never need them. */
  waitingLanes(): FrameLanes {
    return (this.#lanes ??= new FrameLanes())
  }

  get closed(): boolean {
    return this.#state === 'closed'
  }

  /** Its close has been accounted for (see `release`). */
  get released(): boolean {
    return this.#released
  }

  get closeReason(): CloseReason {
    return this.#closeReason
  }

  get expiresAt(): number {
    return this.#expiresAt
  }

  /** A refreshed token extends the connection's life. */
  extendUntil(expiresAt: number): void {
    this.#expiresAt = expiresAt
  }

  /** The presence is settled and `connected` goes out first: deliveries start. */
  markOpen(connected: string): void {
    if (this.#state !== 'opening') return
    this.#state = 'open'
    this.sendRaw(connected)
  }

  /**
   * The socket is gone: returns true the first time only, so that its close
   * is accounted for once (registry, typing, presence, metrics).
   */
  release(): boolean {
    if (this.#released) return false
    this.#released = true
    this.#state = 'closed'
    return true
  }

  /** ws refused an oversized frame and closes with 1009 itself; its error is the only trace of why. */
  refusedOversizedFrame(): void {
    if (this.#closeReason === 'client') this.#closeReason = Closes.MESSAGE_TOO_BIG.reason
  }

  /** Writes one payload to this connection alone (pong, error, connected): as sendFrame. */
  sendRaw(payload: string): boolean {
    return this.sendFrame(new OutFrame(payload))
  }

  /**
   * Writes an event framed once for all its recipients (the same bytes to
   * each); nothing before `connected` or after close. A peer whose unsent
   * output passes MAX_BUFFERED_BYTES is closed with 1013 rather than buffered
   * without end.
   */
  sendFrame(frame: OutFrame): boolean {
    // One test per recipient on the hot path; only a resuming connection goes further.
    if (frame.offset !== undefined && (this.#resumeHeld !== null || this.#replayedUpTo !== null)) return this.#resuming(frame, frame.offset)
    return this.#write(frame)
  }

  #write(frame: OutFrame): boolean {
    if (this.#state !== 'open') return false
    if (this.#wire !== null) this.#writeTurn = batchWrites(this.#wire, this.#writeTurn)
    writeFrame(this.socket, this.#sender, frame)
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) this.#overLimit()
    return true
  }

  /** A resume: from now until `resumed`, live application events are held, not dropped (even before `connected`). */
  holdForResume(): void {
    this.#resumeHeld ??= []
  }

  /**
   * The replay is read (`connected` has gone out): the missed events go out
   * in order, then the held live ones after `upTo` (the rest were replayed);
   * later live events at or before `upTo` are dropped, for the same reason.
   */
  resumed(replay: readonly string[], upTo: string): void {
    const held = this.#resumeHeld ?? []
    this.#resumeHeld = null
    this.#resumeHeldBytes = 0
    this.#replayedUpTo = parseOffset(upTo)
    for (const frame of replay) this.sendRaw(frame)
    for (const frame of held) this.sendFrame(frame)
  }

  #resuming(frame: OutFrame, offset: string): boolean {
    if (this.#resumeHeld !== null) {
      if (this.#state === 'closed') return false
      this.#resumeHeldBytes += frame.payload.length
      if (this.#resumeHeld.length >= MAX_HELD_FOR_RESUME || this.#resumeHeldBytes > this.limits.maxBufferedBytes) {
        // Holding without end would be memory without end: the client resumes again, from what it has.
        this.#resumeHeld = null
        this.close('TRY_AGAIN_LATER')
        return false
      }
      this.#resumeHeld.push(frame)
      return true
    }
    // An event of another history (one delivered here alone because its append to the shared one failed) says
    // nothing of where the shared one's live events are: it goes out, and the fence stays for them.
    const place = placeOf(offset, this.#replayedUpTo!)
    if (place === 'another history') return this.#write(frame)
    if (place === 'not after') return false
    // Live events come in order: once one is after the replay, so is every later one.
    this.#replayedUpTo = null
    return this.#write(frame)
  }

  send(message: { type: string; data: object }): boolean {
    return this.sendRaw(JSON.stringify(message))
  }

  /** Token bucket (RATE_LIMIT_PER_SEC, RATE_LIMIT_BURST): whether one more frame fits. */
  takeToken(now: number): boolean {
    const { rateLimitPerSec, rateLimitBurst } = this.limits
    this.#tokens = Math.min(rateLimitBurst, this.#tokens + ((now - this.#refilledAt) * rateLimitPerSec) / 1000)
    this.#refilledAt = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  /** The rate limit's verdict on one more frame: `exceeded` once MAX_DROPS_IN_A_ROW were dropped in a row. */
  rate(now: number): RateVerdict {
    if (this.takeToken(now)) {
      this.#dropsInARow = 0
      return 'admitted'
    }
    return ++this.#dropsInARow >= MAX_DROPS_IN_A_ROW ? 'exceeded' : 'dropped'
  }

  /** Whether frames are being held (`connected` has not gone out, or the held ones are being handled). */
  get holding(): boolean {
    return this.#held !== null
  }

  /** How many frames are held. */
  get heldCount(): number {
    return this.#held?.length ?? 0
  }

  /** Keeps a frame until `connected` has gone out. */
  hold(frame: HeldFrame): void {
    if (this.#held === null) this.#held = [frame]
    else this.#held.push(frame)
  }

  /** A frame past the bound arrived while frames are held: it is answered once `connected` is out. */
  refuseWhileHeld(): void {
    this.#refusedWhileHeld++
  }

  /** How many frames were refused while held (and forgets them: each is answered once). */
  takeRefusedWhileHeld(): number {
    const refused = this.#refusedWhileHeld
    this.#refusedWhileHeld = 0
    return refused
  }

  /** The next held frame; when none is left, frames are handled as they come. */
  nextHeld(): HeldFrame | undefined {
    const held = this.#held
    if (held === null) return undefined
    if (this.closed) held.length = 0
    const frame = held.shift()
    if (frame === undefined) this.#held = null
    return frame
  }

  /** Remembers a channel this connection started typing in. */
  typingIn(channelId: string): void {
    this.#typingChannels ??= new Set()
    this.#typingChannels.add(channelId)
  }

  /** Forgets a channel its typing ended in. */
  notTypingIn(channelId: string): void {
    this.#typingChannels?.delete(channelId)
  }

  /** The channels it was typing in, forgotten here (its close ends them). */
  takeTypingChannels(): ReadonlySet<string> | null {
    const channels = this.#typingChannels
    this.#typingChannels = null
    return channels
  }

  /** A protocol Pong arrived. */
  answeredPing(): void {
    this.#alive = true
  }

  /** Heartbeat: pings, or cuts a peer that did not answer the previous ping. */
  heartbeat(): void {
    if (!this.#alive) {
      this.#closeReason = 'heartbeat'
      this.#state = 'closed'
      this.socket.terminate()
      return
    }
    this.#alive = false
    this.socket.ping()
  }

  /** Closes with the code and text of the close table. */
  close(kind: CloseKind): void {
    if (this.#state === 'closed') return
    const { code, reason, text } = Closes[kind]
    this.#closeReason = reason
    this.#state = 'closed'
    this.socket.close(code, text)
    // The close frame is queued behind this turn's frames; send them all now:
    // a terminate later in this turn (shutdown, a host's) would drop them.
    if (this.#wire !== null) flushWrites(this.#wire)
  }

  /**
   * Past MAX_BUFFERED_BYTES, counting what this turn holds for the socket
   * (write-batch.ts): those bytes are sent first, and only what the kernel
   * would not take makes a slow consumer; a burst to a peer that reads is not one.
   */
  #overLimit(): void {
    if (this.#wire !== null) {
      flushWrites(this.#wire)
      if (this.socket.bufferedAmount <= this.limits.maxBufferedBytes) return
    }
    this.#closeSlowConsumer()
  }

  #closeSlowConsumer(): void {
    this.close('TRY_AGAIN_LATER')
    // The close frame waits behind what the peer has not read; do not wait for it forever.
    setTimeout(() => this.socket.terminate(), SLOW_CONSUMER_GRACE_MS).unref()
  }
}
