/**
 * What a resume may wait for and hold: a replay that does not come in time
 * is `recovered: false` (never a `connected` held without end), and the
 * live events held meanwhile are bounded in bytes too.
 */
import t from 'tap'
import { WebSocket } from 'ws'
import { build, eventually, GatedPresenceStore, ids, TestClient } from '../helper.js'
import { MemoryHistory } from '../../lib/history/history-memory.js'
import { boundedReplay, type History } from '../../lib/history/history.js'
import { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { internalsOf } from '../../plugins/internals.js'
import { note } from './tools.js'

const LIMITS = { windowMs: 60_000, events: 1000, maxBytes: 1024 ** 2 }

function historyWithChannels(channels: readonly string[], userId: string) {
  const history = new MemoryHistory(LIMITS)
  const since = history.end()
  for (const channel of channels) history.append({ users: [userId], channel }, JSON.stringify({ type: 'note:new', data: { text: channel } }))
  return { history, since }
}

t.test('a replay that does not come in time (its turn, Redis) is recovered: false', async (t) => {
  const [alice] = ids()
  const hung: History = { end: () => 'e-0-0', replay: () => new Promise(() => {}) }
  t.same(await boundedReplay(hung, 'e-0-0', alice, () => true, 50), { recovered: false }, 'connected goes out, not recovered')
  const { history, since } = historyWithChannels(['c1'], alice)
  const quick = await boundedReplay(history, since, alice, () => true, 5000)
  t.equal(quick.recovered && quick.frames.length, 1, 'one in time is passed on')
})

t.test('a resume holding more live bytes than MAX_BUFFERED_BYTES while it waits closes with 1013, to resume again', async (t) => {
  const presence = new GatedPresenceStore()
  const maxBufferedBytes = 64 * 1024
  const app = await build(t, { realtime: { rateLimitPerSec: 100_000, rateLimitBurst: 100_000, maxBufferedBytes }, stores: { presence, membership: new MemoryMembershipStore() } })
  t.teardown(() => presence.release())
  const [alice] = ids()
  const since = internalsOf(app.app).realtimeCluster.history.end()
  const socket = new WebSocket(`${app.wsUrl}?token=${app.token(alice)}&since=${since}`)
  const client = new TestClient(socket)
  t.teardown(() => socket.terminate())
  // Registered, and waiting on its presence: live events are held. 100 of 2 KB: far fewer than MAX_HELD_FOR_RESUME, three times the bytes.
  await eventually(() => app.app.wsRegistry.senders(alice).size === 1)
  const text = 'x'.repeat(2048)
  for (let i = 0; i < 100; i++) app.app.wsDispatcher.sendToUser(alice, note(`${i}${text}`))
  presence.release()
  const first = await Promise.race([client.closed.then((c) => c.code), client.next('connected').then(() => 'connected', () => 'closed')])
  t.equal(first, 1013, 'closed: try again later, before connected')
})
