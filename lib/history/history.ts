import type { Audience } from '../delivery/broker.js'
import { withTimeout } from '../support/timeout.js'

/**
 * What a resume (`?since=`) gets: the events the user would have received
 * since, in order (each a frame with its offset), and `upTo`, the offset of
 * the last event the history held when it was read: a live event at or
 * before it was replayed already. Or `recovered: false`: the history does not
 * reach back to `since` (or `since` is not one of its offsets, or the replay
 * would cost more than its budget).
 */
export type Replay = { readonly recovered: true; readonly frames: readonly string[]; readonly upTo: string } | { readonly recovered: false }

export const NOT_RECOVERED: Replay = { recovered: false }

/** Whether the resume is still wanted (its connection is open): a replay of a connection gone stops reading. */
export type StillWanted = () => boolean

/**
 * The history of application events (contract section 8), one per
 * deployment: in process on one instance, a Redis stream on many.
 */
export interface History {
  /** The offset of the newest event delivered here: a fresh connection's `connected` carries it. */
  end(): string
  /** The events after `since` the user would have received. Never rejects: a failure is `recovered: false`. */
  replay(since: string, userId: string, wanted: StillWanted): Promise<Replay>
}

/**
 * Whether a user would have received an event, had their connection stayed
 * open (contract section 8): named (or everyone), and not excluded. A
 * channel's members are the ones the event was delivered to when published:
 * one who joined later is not among them, and one who left since is (they
 * would have received it). `users`, when given, is `audience.users` as a set
 * (built once per entry when it was kept): O(1) per entry, whatever the
 * audience's size. Without it the list is searched.
 */
export function addressed(audience: Audience, userId: string, users?: ReadonlySet<string>): boolean {
  if (audience.exclude !== undefined && audience.exclude.has(userId)) return false
  if ('everyone' in audience) return true
  return users !== undefined ? users.has(userId) : audience.users.includes(userId)
}

/**
 * A replay over Redis gets this long to read the stream once it has its turn
 * among other resumes (the turn's wait is bounded apart, REPLAY_TURN_WAIT_MS):
 * past it, `recovered: false`, so that a hung Redis never holds `connected`.
 */
export const REPLAY_WAIT_MS = 5000
/**
 * A resume waits at most this long for its turn to read the stream (a few
 * resumes read at once per instance). Generous: in a reconnect storm the
 * resumes queue, and each one that gives up is a client that refetches.
 */
export const REPLAY_TURN_WAIT_MS = 20_000
/** At most this many resumes wait for a turn on an instance; past it, `recovered: false` at once (a queue without bound is memory without bound). */
export const MAX_WAITING_REPLAYS = 2000

/** The history's replay, or `recovered: false` past `waitMs`: a backstop over the bounds of each step (the turn, the stream). */
export function boundedReplay(history: History, since: string, userId: string, wanted: StillWanted, waitMs = REPLAY_TURN_WAIT_MS + REPLAY_WAIT_MS + 1000): Promise<Replay> {
  return withTimeout(history.replay(since, userId, wanted), waitMs).catch(() => NOT_RECOVERED)
}
