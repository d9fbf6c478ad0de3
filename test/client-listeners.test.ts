/**
 * The typed client's `once` and `off` (issue 12), against the running
 * service: a `once` listener hears one message and no more; `off` stops a
 * listener that `on` added.
 */
import t from 'tap'
import { WebSocket } from 'ws'
import { RealtimeClient } from '../client/index.js'
import { build, objectId } from './helper.js'

t.test('once hears one pong of two; off stops an on listener', async (t) => {
  const { wsUrl, token } = await build(t)
  const c = new RealtimeClient({ url: wsUrl, token: token(objectId()), WebSocket })
  t.teardown(() => c.close())
  c.connect()
  await c.ready()
  const once: string[] = []
  const on: string[] = []
  c.once('pong', (m) => once.push(m.type))
  const listener = (m: { type: string }) => on.push(m.type)
  c.on('pong', listener)
  await c.ping()
  c.off('pong', listener)
  await c.ping()
  t.same(once, ['pong'], 'once: the first pong only')
  t.same(on, ['pong'], 'off: nothing after it')
})
