import t from 'tap'
import { build, objectId, withoutOffset } from './helper.js'

t.test('connects, gets connected first, and answers ping', async (t) => {
  const { connect } = await build(t)
  const user = objectId()
  const client = await connect(user)
  t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } })
  client.send({ type: 'ping' })
  t.same(await client.next('pong'), { type: 'pong', data: {} })
})
