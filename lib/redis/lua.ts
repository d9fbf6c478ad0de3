import type { Redis } from 'ioredis'

/** Runs the script on a connection: the keys, then the arguments. */
export type LuaScript<R> = (redis: Redis, keys: readonly string[], args: readonly string[]) => Promise<R>

type Defined<R> = Record<string, (numberOfKeys: number, ...keysAndArgs: string[]) => Promise<R>>

/**
 * A Lua script called by its SHA1 (EVALSHA): the text goes to Redis only
 * when it answers NOSCRIPT (after a restart or a SCRIPT FLUSH), which ioredis
 * handles by sending it once with EVAL. With EVAL every call would carry the
 * whole text (up to 2 KB for a typing start) and Redis would hash it again:
 * on the typing path, once per keystroke burst. The command is defined on a
 * connection the first time it runs there.
 */
export function luaScript<R = unknown>(name: string, lua: string): LuaScript<R> {
  return (redis, keys, args) => {
    if (!(name in redis)) redis.defineCommand(name, { lua })
    return (redis as unknown as Defined<R>)[name]!(keys.length, ...keys, ...args)
  }
}
