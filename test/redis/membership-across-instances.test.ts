/**
 * Contract section 7 (many instances), black box: the membership cache. A
 * host's dropChannel on one instance drops the channel from the cache of
 * every instance, so a member added or removed is seen everywhere long before
 * the cache would have expired.
 *
 * Run with `npx tsx test/run.ts test/redis/membership-across-instances.test.ts` (needs MongoDB/FerretDB); the
 * instances and the checks are in test/redis/instances.ts.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { WAIT_MS, eventually, ids, objectId, type TestClient } from '../helper.js'
import { addMembers, removeMember, seedUsers } from '../fixtures/roomler2.js'
import { isAnyTyping, isTyping, typing } from '../fixtures/messages.js'
import { MEMBERSHIP_CACHE_MS, cluster, delay } from './instances.js'

/** How long a dropChannel on one instance may take to reach the others (far below the cache's own lifetime). */
const DROP_PROPAGATION_MS = 2000

/** Sends typing:start and waits for its outcome: `watcher` hears it (accepted) or the sender gets an error. */
async function tryTyping(sender: TestClient, senderId: string, watcher: TestClient, channel: string): Promise<string> {
  const fromSender = sender.received.length
  const fromWatcher = watcher.received.length
  sender.send({ type: 'typing:start', data: { channel_id: channel } })
  const outcome = (await eventually(
    () => {
      const error = sender.received.slice(fromSender).find((m) => m.type === 'error' && m.data.request_type === 'typing:start')
      if (error) return String(error.data.code)
      if (watcher.received.slice(fromWatcher).some(isTyping('typing:start', channel, senderId))) return 'accepted'
      return undefined
    },
    WAIT_MS,
    'an answer to typing:start',
  )) as string
  sender.unread()
  watcher.unread()
  if (outcome === 'accepted') {
    // End it again, so that the next start is a new one.
    sender.send({ type: 'typing:stop', data: { channel_id: channel } })
    await watcher.next(isTyping('typing:stop', channel, senderId))
  }
  return outcome
}

/** Tries typing:start until it gets `wanted`, for at most DROP_PROPAGATION_MS; the last outcome. */
async function typingUntil(wanted: string, sender: TestClient, senderId: string, watcher: TestClient, channel: string): Promise<string> {
  const deadline = Date.now() + DROP_PROPAGATION_MS
  for (;;) {
    const outcome = await tryTyping(sender, senderId, watcher, channel)
    if (outcome === wanted || Date.now() > deadline) return outcome
    await delay(50)
  }
}

t.test('dropChannel on one instance drops the channel from the membership cache of every instance', async (t) => {
  const {
    db,
    nodes: [A, B, C],
  } = await cluster(t, 3)
  const channel = objectId()
  const [ada, mallory, newcomer] = ids()
  await seedUsers(db, [ada, mallory, newcomer])
  await addMembers(db, channel, [ada, mallory])
  const adaC = await C!.connect(ada)
  const malloryA = await A!.connect(mallory)
  const newcomerA = await A!.connect(newcomer)
  const newcomerB = await B!.connect(newcomer)

  // Every instance reads the membership now, and may keep it for MEMBERSHIP_CACHE_MS (a minute here).
  t.equal(await tryTyping(newcomerB, newcomer, adaC, channel), 'forbidden', 'the newcomer, on B, is not a member yet')
  t.equal(await tryTyping(newcomerA, newcomer, adaC, channel), 'forbidden', 'nor on A')
  t.equal(await tryTyping(malloryA, mallory, adaC, channel), 'accepted', 'mallory, on A, is a member')
  t.equal(await tryTyping(adaC, ada, malloryA, channel), 'accepted', 'ada, on C, is a member')

  // The application adds the newcomer, removes mallory, and tells one instance (C).
  await addMembers(db, channel, [newcomer])
  await removeMember(db, channel, mallory)
  const droppedAt = performance.now()
  C!.app.wsDispatcher.dropChannel(channel)

  t.equal(await typingUntil('accepted', newcomerB, newcomer, adaC, channel), 'accepted', 'the newcomer can type from B')
  const propagated = performance.now() - droppedAt
  t.equal(await typingUntil('accepted', newcomerA, newcomer, adaC, channel), 'accepted', 'and from A')
  t.equal(await typingUntil('forbidden', malloryA, mallory, adaC, channel), 'forbidden', 'mallory, on A, can no longer type there')
  t.comment(`the drop on C reached B within ${Math.round(propagated)} ms (the cache would have kept the old membership for ${MEMBERSHIP_CACHE_MS} ms)`)

  // The removed member no longer hears the channel; the new one does, on both instances.
  const typingA = malloryA.received.length
  adaC.send({ type: 'typing:start', data: { channel_id: channel } })
  t.same(await newcomerA.next(isTyping('typing:start', channel, ada)), typing('typing:start', channel, ada), 'the newcomer hears ada on A')
  t.same(await newcomerB.next(isTyping('typing:start', channel, ada)), typing('typing:start', channel, ada), 'and on B')
  await malloryA.sync()
  t.same(malloryA.received.slice(typingA).filter(isAnyTyping), [], 'mallory (on A, beside the newcomer) hears nothing')
})
