/**
 * Contract section 4: when the instance holding a typist's connection shuts
 * down, the other members receive `typing:stop`. Shutdown first ends the
 * typists it owns (announcing their stops), and only then closes the
 * connections: a `typing:start` that arrives in between must not be
 * announced without its stop ever following.
 */
import t from 'tap'
import { build, eventually, objectId, WAIT_MS } from '../helper.js'
import { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { MemoryPresenceStore } from '../../lib/presence/presence-store-memory.js'

/** Channel members whose reads of one channel wait on the test, as a slow database would make them. */
class GatedMembershipStore extends MemoryMembershipStore {
  gated = new Set<string>()
  waiting = 0
  release!: () => void
  readonly #gate = new Promise<void>((resolve) => (this.release = resolve))

  override async channelMembers(channelId: string): Promise<string[]> {
    if (this.gated.has(channelId)) {
      this.waiting++
      await this.#gate
    }
    return super.channelMembers(channelId)
  }
}

t.test('a typing:start arriving while shutdown announces the stops is never left without its stop', async (t) => {
  const membership = new GatedMembershipStore()
  const built = await build(t, {
    // Membership is read afresh every time: the stop of c1 at shutdown reads it, and waits.
    realtime: { membershipCacheMs: 0 },
    stores: { membership, presence: new MemoryPresenceStore() },
  })
  const [c1, c2, ada, grace] = [objectId(), objectId(), objectId(), objectId()]
  for (const channel of [c1, c2]) for (const user of [ada, grace]) membership.addMember(channel, user)
  const a = await built.connect(ada)
  const g = await built.connect(grace)
  a.send({ type: 'typing:start', data: { channel_id: c1 } })
  await g.next((m) => m.type === 'typing:start' && m.data.channel_id === c1)

  membership.gated.add(c1)
  const closing = built.app.close()
  await eventually(() => membership.waiting > 0, WAIT_MS, 'shutdown waiting on the stop of c1')
  a.send({ type: 'typing:start', data: { channel_id: c2 } })
  await a.sync()
  membership.release()
  await closing
  await g.closed

  const typing = g.received.filter((m) => m.type.startsWith('typing:'))
  const started = typing.filter((m) => m.type === 'typing:start').map((m) => m.data.channel_id)
  const stopped = new Set(typing.filter((m) => m.type === 'typing:stop').map((m) => m.data.channel_id))
  t.ok(stopped.has(c1), 'the stop of the typing shutdown ended is announced')
  t.same(started.filter((channel) => !stopped.has(channel)), [], 'every typing:start grace saw has its typing:stop')
})
