/**
 * lib/redis/lua.ts, the one way the service runs its Redis scripts (typing,
 * presence, history): by SHA1, the text sent again whenever the server has
 * forgotten it. Against a real redis-server: a server that flushed its script
 * cache, a connection made by duplicate() (as the subscriber and replay
 * connections are), and keys and arguments passed through unchanged, empty
 * strings included.
 */
import t from 'tap'
import { luaScript } from '../../lib/redis/lua.js'
import { connection, suiteRedis } from '../fixtures/ports.js'

/** What reached the script; '-' for an absent key or argument (a Lua nil would end the reply's list). */
const ECHO = "return {#KEYS, #ARGV, KEYS[1] or '-', ARGV[1] or '-', ARGV[2] or '-'}"

t.test('Lua scripts by SHA1', async (t) => {
  const redis = await suiteRedis(t)
  const echo = luaScript<unknown[]>('testLuaEcho', ECHO)

  t.test('keys and arguments reach the script as given, however many, empty strings included', async (t) => {
    const client = connection(t, redis)
    t.same(await echo(client, ['k1', 'k2', 'k3'], ['', '']), [3, 2, 'k1', '', ''])
    t.same(await echo(client, ['k1'], ['a', 'b', 'c']), [1, 3, 'k1', 'a', 'b'])
    t.same(await echo(client, [], ['only-args']), [0, 1, '-', 'only-args', '-'])
  })

  t.test('a server that forgot the script (SCRIPT FLUSH) still runs it, on the connection that had', async (t) => {
    const client = connection(t, redis)
    t.same(await echo(client, ['k'], ['before']), [1, 1, 'k', 'before', '-'])
    await connection(t, redis).script('FLUSH')
    t.same(await echo(client, ['k'], ['after']), [1, 1, 'k', 'after', '-'], 'sent again after NOSCRIPT')
    t.same(await echo(client, ['k'], ['again']), [1, 1, 'k', 'again', '-'], 'and by SHA1 from then on')
  })

  t.test('a connection made by duplicate() runs it too (defined commands are not copied)', async (t) => {
    const client = connection(t, redis)
    await echo(client, ['k'], ['first'])
    const copy = client.duplicate()
    t.teardown(() => copy.disconnect())
    t.same(await echo(copy, ['k'], ['copy']), [1, 1, 'k', 'copy', '-'])
  })

  t.test('two texts under one name are refused when defined: one of them would never run', async (t) => {
    t.throws(() => luaScript('testLuaEcho', 'return 1'), /two Lua scripts are named testLuaEcho/)
    t.doesNotThrow(() => luaScript('testLuaEcho', ECHO), 'the same text again is the same script')
  })
})
