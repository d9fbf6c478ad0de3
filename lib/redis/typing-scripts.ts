/**
 * The Lua scripts of typing across instances. A typist is a hash
 * `t:<channel>:<user>` {o: owner `instance:connection`, e: expires at}; each
 * instance also keeps the set `ti:<instance>` of the typists it owns
 * (`channel:user`), so that its shutdown or death ends them and someone
 * announces the stops. Each script is one atomic step: a typist is ended,
 * and so announced, once.
 *
 * A start or stop first takes a token of the user's typing bucket
 * `tr:<user>` (TYPING_RATE_PER_SEC across instances), in the same step: past
 * it the script changes nothing and answers -1. The bucket is GCRA on
 * Redis's own clock (instances' clocks need not agree): one string, the time
 * (µs) at which the bucket is full again, expiring then by itself.
 */

/**
 * `took(key, interval, tolerance)`: whether a token was taken. `interval`: µs one token takes to come
 * back; `tolerance`: how far ahead of now the bucket may be booked (a second, less one token).
 */
const TAKE_TYPING_TOKEN = `
local function took(key, interval, tolerance)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local booked = tonumber(redis.call('GET', key) or 0)
  if booked < now then booked = now end
  if booked - now > tolerance then return false end
  booked = booked + interval
  redis.call('SET', key, string.format('%.17g', booked), 'PX', math.ceil((booked - now) / 1000))
  return true
end
`

/**
 * KEYS: typing(channel, user), typistsOf(owner's instance), typingRate(user).
 * ARGV: owner, expires at, safety ttl ms, `channel:user`, token interval µs, tolerance µs.
 * → 1 started, 0 renewed, -1 over the rate (nothing changed)
 */
export const TYPING_START = `${TAKE_TYPING_TOKEN}
if not took(KEYS[3], tonumber(ARGV[5]), tonumber(ARGV[6])) then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'e', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], 'o', ARGV[1], 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`

/** KEYS: typing(channel, user), typistsOf(owner's instance). ARGV: owner, now, `channel:user`. → -2 gone, -1 ended, else the new expiry */
export const TYPING_EXPIRE = `
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] then
  redis.call('SREM', KEYS[2], ARGV[3])
  return -2
end
local expires = tonumber(redis.call('HGET', KEYS[1], 'e'))
if expires > tonumber(ARGV[2]) then return expires end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[3])
return -1
`

/** KEYS: typing(channel, user), typistsOf(owner's instance). ARGV: owner, `channel:user`. → 1 ended */
export const TYPING_END_OWNED = `
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] then return 0 end
redis.call('SREM', KEYS[2], ARGV[2])
return redis.call('DEL', KEYS[1])
`

/**
 * Any instance's stop. KEYS: typing(channel, user), typingRate(user).
 * ARGV: key prefix, `channel:user`, token interval µs, tolerance µs.
 * → 1 it was on, 0 it was not, -1 over the rate (nothing changed)
 */
export const TYPING_STOP = `${TAKE_TYPING_TOKEN}
if not took(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4])) then return -1 end
local owner = redis.call('HGET', KEYS[1], 'o')
if not owner then return 0 end
redis.call('DEL', KEYS[1])
local instance = string.match(owner, '^([^:]*):')
if instance then redis.call('SREM', ARGV[1] .. 'ti:' .. instance, ARGV[2]) end
return 1
`

/**
 * A dead (or stopping) instance's typists: ends those it still owns, once,
 * whoever calls first. KEYS: typistsOf(instance). ARGV: key prefix, instance.
 * → {`channel:user`, …} ended
 */
export const TYPING_REAP = `
local ended = {}
local mine = ARGV[2] .. ':'
for _, typist in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. 't:' .. typist
  local owner = redis.call('HGET', key, 'o')
  if owner and string.sub(owner, 1, #mine) == mine then
    redis.call('DEL', key)
    table.insert(ended, typist)
  end
end
redis.call('DEL', KEYS[1])
return ended
`
