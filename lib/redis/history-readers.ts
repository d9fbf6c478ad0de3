import type { Redis } from 'ioredis'
import type { RedisKeys } from './keys.js'
import { luaScript } from './lua.js'

/**
 * KEYS: readers (hash: instance id → the last history entry its reader
 * delivered), instances (sorted set: instance id → last heartbeat). ARGV:
 * this instance's id, its last entry ('' while its reader has delivered
 * nothing: its entry is dropped, it holds nothing back), the oldest
 * heartbeat of a live instance (ms). Records this instance's position, drops those of instances
 * no longer alive, and answers the oldest position of a live reader (its
 * `<n>`, the count of entries appended up to it), or -1 for none.
 */
const RECORD = `
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local all = redis.call('HGETALL', KEYS[1])
local oldest = -1
for i = 1, #all, 2 do
  local beat = redis.call('ZSCORE', KEYS[2], all[i])
  if all[i] ~= ARGV[1] and (not beat or tonumber(beat) < tonumber(ARGV[3])) then
    redis.call('HDEL', KEYS[1], all[i])
  else
    local n = tonumber(string.match(all[i + 1], '-(%d+)$'))
    if n and (oldest < 0 or n < oldest) then oldest = n end
  end
end
return oldest
`

const recordReader = luaScript<number>('roomlerHistoryReaders', RECORD)

/**
 * Shares where this instance's reader is in the history stream, and learns
 * the oldest position of every live reader (null: none known): the trim of
 * each append goes no further than it (the stream is the transport too, and
 * an entry a live reader has not read yet must not be trimmed by count). A
 * position is recorded with each heartbeat, so what is learned is at most a
 * heartbeat old: readers only move forward, so it is never ahead of them.
 * An instance that stopped answering is dropped with its heartbeat
 * (INSTANCE_TTL_MS), so a dead reader holds nothing back.
 */
export async function shareReadPosition(redis: Redis, keys: RedisKeys, instanceId: string, lastId: string | null, aliveSince: number): Promise<number | null> {
  const oldest = await recordReader(redis, [keys.historyReaders, keys.instances], [instanceId, lastId ?? '', String(aliveSince)])
  return oldest < 0 ? null : oldest
}
