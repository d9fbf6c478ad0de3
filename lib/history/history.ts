import type { Audience } from '../delivery/broker.js'
import { withTimeout } from '../support/timeout.js'
import { MEMBERSHIP_READ_TIMEOUT_MS } from '../membership/membership-cache.js'

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

/** Whether a user is a member of a channel now (a channel event is not replayed to one who left). */
export type IsMember = (channelId: string, userId: string) => Promise<boolean>

/**
 * The history of application events (contract section 8), one per
 * deployment: in process on one instance, a Redis stream on many.
 */
export interface History {
  /** The offset of the newest event delivered here: a fresh connection's `connected` carries it. */
  end(): string
  /** The events after `since` the user would have received. Never rejects: a failure is `recovered: false`. */
  replay(since: string, userId: string, isMember: IsMember): Promise<Replay>
}

/**
 * Whether a user would have received an event, had their connection stayed
 * open: named (or everyone), and not excluded. A channel's members are the
 * ones the event was delivered to when published (so one who joined later
 * is not among them); `channel` is checked by the caller (one who left
 * since gets nothing). `users`, when given, is `audience.users` as a set
 * (built once per entry when it was kept): O(1) per entry, whatever the
 * audience's size. Without it the list is searched.
 */
export function addressed(audience: Audience, userId: string, users?: ReadonlySet<string>): boolean {
  if (audience.exclude !== undefined && audience.exclude.has(userId)) return false
  if ('everyone' in audience) return true
  return users !== undefined ? users.has(userId) : audience.users.includes(userId)
}

/** An event addressed to the user: its frame, and its channel (if any) to check membership of now. */
export interface Addressed {
  readonly frame: string
  readonly channel: string | undefined
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

/** The history's replay, or `recovered: false` past `waitMs`: a backstop over the bounds of each step (turn, stream, memberships). */
export function boundedReplay(
  history: History,
  since: string,
  userId: string,
  isMember: IsMember,
  waitMs = REPLAY_TURN_WAIT_MS + REPLAY_WAIT_MS + MEMBERSHIP_WAIT_MS + 1000,
): Promise<Replay> {
  return withTimeout(history.replay(since, userId, isMember), waitMs).catch(() => NOT_RECOVERED)
}

/**
 * A resume waits at most this long for the memberships it needs; past it,
 * `recovered: false` (contract section 2: `connected` within a few seconds).
 * As long as the membership cache itself waits for a read: a database the
 * cache still takes for loaded but live is not given up on by a resume
 * either (in a reconnect storm the reads queue behind one another).
 */
export const MEMBERSHIP_WAIT_MS = MEMBERSHIP_READ_TIMEOUT_MS
/** At most this many memberships of one resume are read at once. */
const MEMBERSHIP_READS = 16

/**
 * The frames of events addressed to a user, in order: channel events only
 * while they are still a member. The memberships of the distinct channels
 * are read in parallel (a few at a time), all within `waitMs`: past it this
 * rejects (TimeoutError), and the caller answers `recovered: false` rather
 * than hold `connected` for a slow database.
 */
export async function stillMemberFrames(entries: readonly Addressed[], userId: string, isMember: IsMember, waitMs = MEMBERSHIP_WAIT_MS): Promise<string[]> {
  const channels = new Set<string>()
  for (const { channel } of entries) if (channel !== undefined) channels.add(channel)
  const stillMember = new Map<string, boolean>()
  if (channels.size > 0) {
    const pending = [...channels]
    let late = false
    const read = async () => {
      for (let channel = pending.pop(); channel !== undefined && !late; channel = pending.pop()) stillMember.set(channel, await isMember(channel, userId))
    }
    const reads = Promise.all(Array.from({ length: Math.min(MEMBERSHIP_READS, pending.length) }, read))
    try {
      await withTimeout(reads, waitMs)
    } finally {
      // The reads still running finish on their own; none starts after this.
      late = true
    }
  }
  const frames: string[] = []
  for (const { frame, channel } of entries) if (channel === undefined || stillMember.get(channel) === true) frames.push(frame)
  return frames
}
