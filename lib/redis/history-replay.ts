import type { Redis } from 'ioredis'
import { addressed, type StillWanted } from '../history/history.js'
import { offsetOf, START_ID, type Position } from '../history/offsets.js'
import { compareIds, decode, rawSize, type RawEntry } from './history-entries.js'
import type { RedisKeys } from './keys.js'
import { luaScript } from './lua.js'

/**
 * KEYS: stream, epoch. ARGV: an id. → epoch, the stream's last id, how many
 * entries were trimmed from it (entries added less its length: trimming
 * takes the oldest, and entry `<ms>-<n>` is the n-th appended), whether the
 * id is in it. Small whatever the entries.
 */
const STATE = `
local epoch = redis.call('GET', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return {epoch, '0-0', 0, 0} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, added, length = '0-0', -1, 0
for i = 1, #info, 2 do
  local k = info[i]
  if k == 'last-generated-id' then last = info[i + 1] elseif k == 'entries-added' then added = info[i + 1] elseif k == 'length' then length = info[i + 1] end
end
-- Before Redis 7 there is no entries-added: what was trimmed is not known.
if added < 0 then return {epoch, last, -1, 0} end
return {epoch, last, added - length, #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])}
`

/** A resume reads at most this many bytes of history; past it, `recovered: false` (the client refetches). */
export const REPLAY_MAX_BYTES = 8 * 1024 * 1024
/** A page of a replay: at most this many entries, and about this many bytes (fewer entries when they are large). */
const PAGE_ENTRIES = 200
const PAGE_BYTES = 512 * 1024
/** The first page, before the entries' size is known. */
const FIRST_PAGE_ENTRIES = 4

export interface ReplayLimits {
  /** RECOVERY_EVENTS: more entries than this after `since`, not recovered. */
  readonly events: number
  readonly replayMaxBytes: number
}

type State = [epoch: string | null, last: string, trimmed: number, present: number]

const readState = luaScript<State>('roomlerHistoryState', STATE)

async function state(redis: Redis, keys: RedisKeys, id: string): Promise<State> {
  return readState(redis, [keys.history, keys.historyEpoch], [id])
}

/** What a resume read of the stream: the frames of the entries addressed to the user, up to `upTo`. */
export interface MissedEntries {
  readonly frames: readonly string[]
  readonly upTo: string
}

/**
 * A resume over the Redis stream, on a connection of its own (not the one
 * the heartbeat and the appends use): recovered when the epoch is `since`'s,
 * `since` is an id the stream gave, and nothing after it was trimmed (no
 * more entries were trimmed than were appended up to it), however old
 * `since` is.
 * The entries up to the stream's end as it was then are read in pages (each
 * await lets the event loop go on), filtered for the user as they come, and
 * given up on past RECOVERY_EVENTS entries, `replayMaxBytes` bytes, or the
 * `deadline` (epoch ms; its resume gave up) or once the resume is no longer
 * `wanted` (its connection closed). null: not recovered.
 */
export async function readMissed(
  redis: Redis,
  keys: RedisKeys,
  limits: ReplayLimits,
  position: Position,
  userId: string,
  deadline: number,
  wanted: StillWanted = () => true,
): Promise<MissedEntries | null> {
  const [epoch, last, trimmed, present] = await state(redis, keys, position.id)
  if (epoch !== position.epoch || trimmed < 0) return null
  // From the future, or something after `since` is gone (`since` is the n-th entry appended).
  if (compareIds(position.id, last) > 0 || trimmed > position.seq) return null
  // An id the stream gave: still in it, or the very last one trimmed (or the start, when nothing was).
  if (present === 0 && position.seq !== trimmed) return null
  const found: string[] = []
  let entries = 0
  let bytes = 0
  let cursor = position.id
  let count = FIRST_PAGE_ENTRIES
  while (compareIds(cursor, last) < 0) {
    if (Date.now() > deadline || !wanted()) return null
    const page = (await redis.xrange(keys.history, `(${cursor}`, last, 'COUNT', count)) as RawEntry[]
    if (page.length === 0) break
    for (const raw of page) {
      entries++
      bytes += rawSize(raw)
      if (entries > limits.events || bytes > limits.replayMaxBytes) return null
      const entry = decode(raw)
      if (entry.epoch !== epoch) return null
      if (addressed(entry.audience, userId)) found.push(entry.frame)
    }
    cursor = page.at(-1)![0]
    count = Math.max(1, Math.min(PAGE_ENTRIES, Math.floor(PAGE_BYTES / (bytes / entries))))
  }
  // Trimmed while it was read (from the oldest end): what was not read yet may be gone.
  if (entries > 0) {
    const trimmedNow = (await state(redis, keys, START_ID))[2]
    if (trimmedNow < 0 || trimmedNow > position.seq) return null
  }
  return { frames: found, upTo: offsetOf(epoch, last) }
}

/** At most this many resumes read the stream at once on an instance: a reconnect storm reads a few budgets at a time, not thousands. */
export const CONCURRENT_REPLAYS = 4
