import type { ClientMessage } from '../../schemas/client-messages.js'
import type { ProtocolError } from './errors.js'

/**
 * How many of a connection's frames may wait to be handled, both lanes
 * together (and before `connected`); past it a frame gets `rate_limited`.
 * Well above RATE_LIMIT_BURST's default: only a connection whose frames wait
 * on a slow database meets it.
 */
export const MAX_UNHANDLED_FRAMES = 100

/** A parsed frame waiting its turn, or the refusal it gets. */
export type LaneItem = ClientMessage | ProtocolError

/** Frames handled one at a time, in order; `busy` while one waits on something. */
export class Lane {
  busy = false
  readonly queue: LaneItem[] = []
}

/**
 * A connection's two orders (contract section 3): typing, which may wait on
 * the database, and everything else, which never waits behind it. Made the
 * first time a frame has to wait: most connections never need it.
 */
export class FrameLanes {
  readonly control = new Lane()
  readonly typing = new Lane()

  get waiting(): number {
    return this.control.queue.length + this.typing.queue.length
  }
}
