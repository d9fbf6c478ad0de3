/**
 * The token renewed before it expires (issue 12): with `getToken`, the
 * client asks for a new token a little before `exp` and sends it as
 * `auth:refresh` (contract section 3), so the connection outlives its first
 * token without a 4001 close. A refused refresh falls back to the 4001 close
 * and a reconnect with a fresh token. Real service.
 */
import t from 'tap'
import { WAIT_MS, build, eventually, objectId, signToken } from '../helper.js'
import { nextMessage, nextState, recordedClient, stateIs } from './tools.js'
import { internalsOf } from '../../plugins/internals.js'

const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s

t.test('a connection outlives its first token: getToken is asked ahead of exp and the new token sent as auth:refresh', async (t) => {
  const { app, wsUrl } = await build(t)
  const user = objectId()
  const firstExp = inSeconds(3)
  const asked: number[] = []
  const { c, stateNames } = recordedClient(t, {
    url: wsUrl,
    token: signToken({ sub: user, exp: firstExp }),
    getToken: () => {
      asked.push(Date.now())
      return signToken({ sub: user, exp: inSeconds(3600) })
    },
  })
  await c.connect().ready()
  await eventually(() => internalsOf(app).realtimeMetrics.messagesIn.get('auth:refresh') === 1, WAIT_MS, 'an auth:refresh')
  t.equal(asked.length, 1, 'getToken asked once')
  t.ok(asked[0]! < firstExp * 1000, 'before the first token expired')

  await eventually(() => Date.now() > firstExp * 1000 + 1000, WAIT_MS, 'the first token expiring')
  t.ok((await c.ping()) >= 0, 'still answered a second after the first token expired')
  t.same(stateNames(), ['connecting', 'open'], 'never closed, never reconnected')
  t.equal(asked.length, 1, 'the new token lasts an hour: not asked again')
})

t.test('a refused refresh: the connection ends at exp with 4001 and the client reconnects with a fresh token', async (t) => {
  const { wsUrl } = await build(t, { realtime: { typingTimeoutMs: 200 } })
  const user = objectId()
  const tokens = [signToken({ sub: objectId() }), signToken({ sub: user })] // the first is another user's: refused
  let asked = 0
  const { c } = recordedClient(t, {
    url: wsUrl,
    token: signToken({ sub: user, exp: inSeconds(2) }),
    getToken: () => tokens[Math.min(asked++, 1)]!,
  })
  const refused = nextMessage(c, 'error', (m) => m.data.request_type === 'auth:refresh', WAIT_MS)
  await c.connect().ready()
  t.equal((await refused).data.code, 'unauthorized', 'the refresh was refused')
  const closed = await nextState(c, stateIs('reconnecting'), 'to reconnecting at exp', WAIT_MS + 2000)
  t.equal(closed.reason?.code, 4001, 'the connection ended when its token expired')
  await nextState(c, stateIs('open'), 'open with the fresh token')
  t.equal(asked, 2, 'asked once ahead of exp, once after the 4001')
  t.equal(c.userId, user)
})
