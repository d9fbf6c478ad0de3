/**
 * Order under write coalescing, through the whole service: frames the
 * protocol answers (pong, error), application events and the close frame,
 * written to one connection in the same turns, reach the client in the
 * order they were written, with at most two writes per turn (the first
 * frame at once, the rest of the turn together). The client's frames are
 * sent in one TCP write, so that the server reads them in as few turns as
 * the kernel allows; the writes are counted against the reads the server
 * made, not as a fixed number.
 */
import type { Socket } from 'node:net'
import t from 'tap'
import { build, objectId, withoutOffset, type ServerMessage } from '../helper.js'

t.test('pong, error, events and the close keep their order when written in one turn', async (t) => {
  const built = await build(t)
  const { app } = built
  const userId = objectId()
  const client = await built.connect(userId)
  const connection = [...app.wsRegistry.senders(userId)][0]!
  const wire = (connection.socket as unknown as { _socket: Socket & Record<string, Function> })._socket

  let reads = 0
  let writes = 0
  wire.on('data', () => reads++)
  for (const method of ['_write', '_writev']) {
    const original = wire[method]!
    wire[method] = function (this: Socket, ...args: unknown[]) {
      writes++
      return original.apply(this, args)
    }
  }
  // After the service has answered each frame (its listener came first): an event to this user; after the last, a close.
  const FRAMES = 8
  let seen = 0
  connection.socket.on('message', () => {
    const n = seen++
    app.wsDispatcher.sendToUser(userId, { type: 'order:event', data: { n } })
    if (seen === FRAMES) connection.close('GOING_AWAY')
  })

  const clientWire = (client.socket as unknown as { _socket: Socket })._socket
  clientWire.cork()
  for (let n = 0; n < FRAMES; n++) client.send(n % 2 === 0 ? { type: 'ping' } : 'not json')
  clientWire.uncork()

  const closed = await client.closed
  const got = client.unread().map((m: ServerMessage) => (m.type === 'order:event' ? withoutOffset(m) : { type: m.type }))
  t.same(
    got,
    Array.from({ length: FRAMES }, (_, n) => [{ type: n % 2 === 0 ? 'pong' : 'error' }, { type: 'order:event', data: { n } }]).flat(),
    'every answer and event in the order it was written',
  )
  t.equal(closed.code, 1001, 'then the close, after all of them')
  t.ok(reads >= 1 && writes <= 2 * reads, `at most two writes per turn: ${writes} write(s) for ${reads} read(s) of ${FRAMES} frames`)
})
