/**
 * TypingSet and a long typist (contract section 4): the server announces a
 * typist once and renews them silently, so a set that ended an entry
 * TYPING_TIMEOUT_MS after the start it heard dropped everyone who typed for
 * longer than that without a pause. The typist here is the real client's
 * own typing (a keystroke a second, renewed every 5 s), past the server's
 * default TYPING_TIMEOUT_MS of 10 s.
 */
import t from 'tap'
import { TypingSet, type TypingChange } from '../../client/index.js'
import { TYPING_TIMEOUT_MS } from '../../client/protocol.js'
import type { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { build, objectId, signToken } from '../helper.js'
import { nextChange, recordedClient } from './tools.js'
import { internalsOf } from '../../plugins/internals.js'

t.test('TypingSet keeps a typist who types without a pause for longer than TYPING_TIMEOUT_MS, and drops them at their stop', async (t) => {
  const { app, wsUrl } = await build(t, { realtime: { membershipCacheMs: 0 } })
  const membership = internalsOf(app).realtimeStores.membership as MemoryMembershipStore
  const [alice, bob, general] = [objectId(), objectId(), objectId()]
  membership.addMember(general, alice)
  membership.addMember(general, bob)
  const b = recordedClient(t, { url: wsUrl, token: signToken({ sub: bob }) })
  const typing = new TypingSet(b.c)
  t.teardown(() => typing.dispose())
  const changes: TypingChange[] = []
  typing.onChange((change) => changes.push(change))
  const a = recordedClient(t, { url: wsUrl, token: signToken({ sub: alice }) })
  await Promise.all([b.c.connect().ready(), a.c.connect().ready()])

  const starts = nextChange<TypingChange>((l) => typing.onChange(l), (c) => c.userIds.includes(alice), 'alice typing')
  a.c.startTyping(general)
  await starts
  // Keystrokes for two seconds past the server's timeout: the server keeps alice typing all along (renewed).
  const typingMs = TYPING_TIMEOUT_MS + 2000
  await new Promise<void>((resolve) => {
    const began = Date.now()
    const keys = setInterval(() => {
      a.c.startTyping(general)
      if (Date.now() - began >= typingMs) {
        clearInterval(keys)
        resolve()
      }
    }, 1000)
  })
  const stop = nextChange<TypingChange>((l) => typing.onChange(l), (c) => !c.userIds.includes(alice), 'alice stopped')
  t.ok(typing.isTyping(general, alice), `alice is still shown typing after ${typingMs} ms of renewed typing`)
  t.same(changes, [{ channelId: general, userIds: [alice] }], 'one change: her start; no stop was told while she typed')
  t.equal(b.messages.filter((m) => m.type === 'typing:start').length, 1, 'the server announced her once and renewed her silently')
  a.c.stopTyping(general)
  await stop
  t.notOk(typing.isTyping(general, alice), 'her stop ends the entry')
  t.ok(b.messages.some((m) => m.type === 'typing:stop' && m.data.user_id === alice), 'by the server’s typing:stop')
})
