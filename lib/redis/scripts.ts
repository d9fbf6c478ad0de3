/**
 * The Lua scripts that keep presence consistent across instances (typing's
 * are in typing-scripts.ts):
 * each is one atomic step, so two instances never both see a "first" or a
 * "last", and a dead instance is reaped once.
 */

/** KEYS: instancesOf(user), usersOf(instance), presence. ARGV: instance, user. → {first, presence} */
export const JOIN = `
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 1 then
  redis.call('HDEL', KEYS[3], ARGV[2])
  return {1, false}
end
return {0, redis.call('HGET', KEYS[3], ARGV[2])}
`

/** KEYS: instancesOf(user), usersOf(instance), presence. ARGV: instance, user. → {last, presence} */
export const LEAVE = `
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[1], ARGV[1])
local presence = redis.call('HGET', KEYS[3], ARGV[2])
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('HDEL', KEYS[3], ARGV[2])
  return {1, presence}
end
return {0, presence}
`

/**
 * A choice: the user's presence (if anyone holds them) and their newest
 * choice, kept with its time for whichever instance joins them first next.
 * KEYS: instancesOf(user), presence, choice(user). ARGV: user, presence, at ms, keep ms.
 * → the presence before
 */
export const CHOOSE = `
local kept = redis.call('GET', KEYS[3])
local kept_at = kept and tonumber(string.match(kept, ' (%d+)$')) or -1
if kept_at <= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[3], ARGV[2] .. ' ' .. ARGV[3], 'PX', ARGV[4])
end
local before = redis.call('HGET', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[1]) > 0 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return before
`

/**
 * The first joiner's read of the stored choice returned. Nobody holds the
 * user any more: nothing (false). Settled meanwhile by a choice: {it, it}.
 * Else the newest kept choice wins over the read; dnd and invisible survive,
 * anything else is online: {presence, '', the kept choice or ''}.
 * KEYS: instancesOf(user), presence, choice(user). ARGV: user, stored ('' none).
 */
export const SETTLE = `
if redis.call('SCARD', KEYS[1]) == 0 then return false end
local before = redis.call('HGET', KEYS[2], ARGV[1])
if before then return {before, before} end
local chosen, kept_choice = ARGV[2], ''
local kept = redis.call('GET', KEYS[3])
if kept then
  chosen = string.match(kept, '^(%S+)')
  kept_choice = chosen
end
local presence = 'online'
if chosen == 'dnd' or chosen == 'invisible' then presence = chosen end
redis.call('HSET', KEYS[2], ARGV[1], presence)
return {presence, '', kept_choice}
`

/** The store holds this choice now: keep it only a while longer. KEYS: choice(user). ARGV: presence, keep ms. */
export const CHOICE_LANDED = `
local kept = redis.call('GET', KEYS[1])
if kept and string.match(kept, '^(%S+)') == ARGV[1] and redis.call('PTTL', KEYS[1]) > tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`

/**
 * Lua shared by REAP and RESYNC: takes an instance out of a user's holders;
 * when none is left the user is offline, appended to `departed` with the
 * presence they had, which is dropped.
 */
const LEAVE_HOLDERS = `
local function leave_holders(prefix, instance, user, presence_key, departed)
  local holders = prefix .. 'u:' .. user
  redis.call('SREM', holders, instance)
  if redis.call('SCARD', holders) == 0 then
    table.insert(departed, user)
    table.insert(departed, redis.call('HGET', presence_key, user) or '')
    redis.call('HDEL', presence_key, user)
  end
end
`

/** KEYS: instances, presence. ARGV: dead instance, key prefix. → {user, presence, …} now offline */
export const REAP = `${LEAVE_HOLDERS}
local users_key = ARGV[2] .. 'i:' .. ARGV[1]
local departed = {}
for _, user in ipairs(redis.call('SMEMBERS', users_key)) do
  leave_holders(ARGV[2], ARGV[1], user, KEYS[2], departed)
end
redis.call('DEL', users_key)
redis.call('ZREM', KEYS[1], ARGV[1])
return departed
`

/**
 * After Redis was unreachable: makes Redis hold exactly this instance's users,
 * with the state this instance knows (newer than what Redis kept).
 * KEYS: instances, presence. ARGV: instance, prefix, now, then user/presence pairs
 * ('' when not settled). → {{user, presence, …} now offline, {user, …} whose state
 * Redis had lost or held otherwise}
 */
export const RESYNC = `${LEAVE_HOLDERS}
local instance, prefix = ARGV[1], ARGV[2]
local users_key = prefix .. 'i:' .. instance
local current = {}
for i = 4, #ARGV, 2 do current[ARGV[i]] = ARGV[i + 1] end
local departed = {}
for _, user in ipairs(redis.call('SMEMBERS', users_key)) do
  if current[user] == nil then
    redis.call('SREM', users_key, user)
    leave_holders(prefix, instance, user, KEYS[2], departed)
  end
end
local rejoined = {}
for user, presence in pairs(current) do
  redis.call('SADD', users_key, user)
  redis.call('SADD', prefix .. 'u:' .. user, instance)
  local before = redis.call('HGET', KEYS[2], user)
  if presence ~= '' and before ~= presence then redis.call('HSET', KEYS[2], user, presence) end
  if before ~= presence then table.insert(rejoined, user) end
end
redis.call('ZADD', KEYS[1], ARGV[3], instance)
return {departed, rejoined}
`
