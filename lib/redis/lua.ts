import type { Redis } from 'ioredis'

/** Runs the script on a connection: the keys, then the arguments. */
export type LuaScript<R> = (redis: Redis, keys: readonly string[], args: readonly string[]) => Promise<R>

type Defined<R> = Record<string, (numberOfKeys: number, ...keysAndArgs: string[]) => Promise<R>>

/** The text of each script by its command name: a name is defined on a connection once, so two texts under one name would run the first. */
const defined = new Map<string, string>()

/**
 * A Lua script called by its SHA1 (EVALSHA). ioredis sends the text with EVAL
 * the first time on each connection and again whenever Redis answers
 * NOSCRIPT (a SCRIPT FLUSH, a server that never had it); otherwise only the
 * hash goes. With EVAL every call would carry the whole text (up to 2 KB for
 * a typing start) and Redis would hash it again. The command is defined on a
 * connection the first time it runs there; the key count goes with each call.
 */
export function luaScript<R = unknown>(name: string, lua: string): LuaScript<R> {
  const known = defined.get(name)
  if (known !== undefined && known !== lua) throw new Error(`two Lua scripts are named ${name}`)
  defined.set(name, lua)
  return (redis, keys, args) => {
    if (!(name in redis)) redis.defineCommand(name, { lua })
    return (redis as unknown as Defined<R>)[name]!(keys.length, ...keys, ...args)
  }
}
