/**
 * The fence after a replay (contract section 8: every missed event once):
 * live events at or before the replay's end were replayed already and are
 * dropped; the first one after it lifts the fence. An event of another
 * history (delivered on this instance alone, its append to the shared
 * history having failed) goes out and leaves the fence standing, so that a
 * lagging reader's copy of an event already replayed is still dropped.
 * A unit test of Connection, on a socket that records what it is sent.
 */
import t from 'tap'
import type { WebSocket } from 'ws'
import { Connection } from '../../lib/connections/connection.js'
import { OutFrame } from '../../lib/connections/wire.js'
import { objectId } from '../helper.js'

function recorded(): { socket: WebSocket; texts: string[] } {
  const texts: string[] = []
  const socket = { send: (data: string) => texts.push(JSON.parse(String(data)).data?.text ?? JSON.parse(String(data)).type), bufferedAmount: 0, close() {}, terminate() {} }
  return { socket: socket as unknown as WebSocket, texts }
}
const frame = (text: string, offset: string) => `{"type":"note:new","data":{"text":"${text}"},"offset":"${offset}"}`
const live = (text: string, offset: string) => new OutFrame(frame(text, offset), offset)

t.test('an event of another history does not lift the fence after a replay', async (t) => {
  const { socket, texts } = recorded()
  const connection = new Connection(objectId(), socket, Date.now() + 60_000, { maxBufferedBytes: 1 << 20, rateLimitPerSec: 20, rateLimitBurst: 40 })
  connection.holdForResume()
  connection.markOpen('{"type":"connected","data":{}}')
  connection.resumed([frame('e4', 'shared-100-4'), frame('e5', 'shared-100-5')], 'shared-100-5')
  connection.sendFrame(live('here alone', 'unshared-0-1'))
  connection.sendFrame(live('e5', 'shared-100-5'))
  connection.sendFrame(live('e6', 'shared-100-6'))
  connection.sendFrame(live('e5', 'shared-100-5'))
  t.same(texts, ['connected', 'e4', 'e5', 'here alone', 'e6', 'e5'], 'e5 once from the replay; the first event after the fence lifts it (and then nothing is compared)')
})
