/**
 * Contract section 7 (many instances), black box: presence. A user is online
 * everywhere from their first connection on any instance to their last,
 * others see the visible state and only its changes, the user's own
 * connections everywhere see the real one, and GET /presence agrees on every
 * instance and with users in MongoDB.
 *
 * Run with `npx tsx test/run.ts test/redis/presence-across-instances.test.ts` (needs MongoDB/FerretDB); the
 * instances and the checks are in test/redis/instances.ts.
 */
import t from 'tap'
import type { Document } from 'mongodb'
import { WAIT_MS, eventually, ids, type TestClient } from '../helper.js'
import { seedUsers, userDoc } from '../fixtures/roomler2.js'
import { isPresence, presenceOf } from '../fixtures/messages.js'
import { cluster, expectPresence, expectPresenceHistory, presenceEverywhere, settle } from './instances.js'

t.test('presence: a user connecting on one instance is seen on every instance, and GET /presence on any instance agrees', async (t) => {
  const {
    db,
    nodes: [A, B, C],
  } = await cluster(t, 3)
  const [watchA, watchB, watchC, ada, ivy, zed, unknown] = ids()
  await seedUsers(db, [watchA, watchB, watchC, ada, ivy, zed], {}, { [ivy]: { chosen_presence: 'invisible' } })
  const watchers = { 'a user on A': await A!.connect(watchA), 'a user on B': await B!.connect(watchB), 'a user on C': await C!.connect(watchC) }

  const adaA = await A!.connect(ada)
  await expectPresence(t, watchers, ada, 'online', 'sees ada (on A) come online')
  await adaA.sync()
  t.same(adaA.received.filter(isPresence(ada)).slice(1), [], 'ada is not told about herself')

  // ivy last chose invisible: her connection on B tells nobody anything.
  await B!.connect(ivy)
  // zed comes next, on the same instance: once he is announced, anything about ivy would have been too.
  await B!.connect(zed)
  await expectPresence(t, watchers, zed, 'online', 'sees zed (on B) come online')
  await settle(watchers)
  expectPresenceHistory(t, watchers, ivy, [], 'hears nothing of invisible ivy')

  adaA.send({ type: 'presence:update', data: { presence: 'idle' } })
  t.same(await adaA.next(isPresence(ada)), presenceOf(ada, 'idle'), 'ada’s own connection gets her state')
  await expectPresence(t, watchers, ada, 'idle', 'sees ada idle')
  await settle(watchers)
  expectPresenceHistory(t, watchers, ada, ['online', 'idle'], 'each change once')

  const nodes = { A: A!, B: B!, C: C! }
  await presenceEverywhere(t, nodes, watchC, { [ada]: 'idle', [ivy]: 'offline', [zed]: 'online', [unknown]: 'offline', [watchA]: 'online' }, 'as another user sees them')
  await presenceEverywhere(t, nodes, ivy, { [ivy]: 'invisible' }, 'ivy sees herself invisible')
  await presenceEverywhere(t, nodes, ada, { [ada]: 'idle' }, 'ada sees herself idle')
})

t.test('a user with connections on two instances stays online until both close', async (t) => {
  const {
    db,
    nodes: [A, B, C],
  } = await cluster(t, 3)
  const [watchA, watchB, watchC, ada, zed] = ids()
  await seedUsers(db, [watchA, watchB, watchC, ada, zed])
  const wA = await A!.connect(watchA)
  const wB = await B!.connect(watchB)
  const wC = await C!.connect(watchC)
  const watchers = { 'a user on A': wA, 'a user on B': wB, 'a user on C': wC }
  const nodes = { A: A!, B: B!, C: C! }

  const adaA = await A!.connect(ada)
  await expectPresence(t, watchers, ada, 'online', 'sees ada come online')
  await eventually(async () => (await userDoc(db, ada))?.presence === 'online', WAIT_MS, 'users.presence online')

  // A second connection, on another instance: nothing to announce. zed, on the same instance, comes after it.
  const adaB = await B!.connect(ada)
  await B!.connect(zed)
  for (const client of Object.values(watchers)) await client.next(isPresence(zed, 'online'))

  // The connection on A closes: ada is still connected on B.
  await adaA.close()
  await eventually(() => !A!.app.wsRegistry.has(ada), WAIT_MS, 'A forgets ada’s connection')
  // Something from A after the close (it travels the way an offline from A would): wA goes idle.
  wA.send({ type: 'presence:update', data: { presence: 'idle' } })
  for (const client of [wB, wC, adaB]) await client.next(isPresence(watchA, 'idle'))
  await settle({ ...watchers, 'ada on B': adaB })
  expectPresenceHistory(t, watchers, ada, ['online'], 'closing A announced nothing')
  t.same(adaB.received.filter(isPresence(ada)).slice(1), [], 'ada’s connection on B is told nothing either')
  t.equal((await userDoc(db, ada))?.presence, 'online', 'users.presence is still online')
  await presenceEverywhere(t, nodes, watchC, { [ada]: 'online' }, 'ada is online while connected on B')

  // The last connection, on B, closes: offline everywhere, and in the database.
  const closedAt = Date.now()
  await adaB.close()
  await expectPresence(t, watchers, ada, 'offline', 'sees ada go offline')
  const doc = (await eventually(
    async () => {
      const found = await userDoc(db, ada)
      return found?.presence === 'offline' ? found : undefined
    },
    WAIT_MS,
    'users.presence offline',
  )) as Document
  t.ok(doc.last_active_at instanceof Date && doc.last_active_at.getTime() >= closedAt - 1000, `last_active_at is the close (${doc.last_active_at?.toISOString?.()})`)

  // Something after it from B, then each watcher's whole story of ada.
  wB.send({ type: 'presence:update', data: { presence: 'dnd' } })
  for (const client of [wA, wC]) await client.next(isPresence(watchB, 'dnd'))
  await settle(watchers)
  expectPresenceHistory(t, watchers, ada, ['online', 'offline'], 'online once, offline once')
  await presenceEverywhere(t, nodes, watchC, { [ada]: 'offline' }, 'ada is offline')
})

t.test('presence:update on one instance: the user’s connections everywhere get the real state, others the visible one only when it changes', async (t) => {
  const {
    db,
    nodes: [A, B, C],
  } = await cluster(t, 3)
  const [ada, watchB, watchC] = ids()
  await seedUsers(db, [ada, watchB, watchC])
  const wB = await B!.connect(watchB)
  const wC = await C!.connect(watchC)
  const others = { 'a user on B': wB, 'a user on C': wC }
  const adaA = await A!.connect(ada)
  const adaB = await B!.connect(ada)
  const own = { 'ada on A': adaA, 'ada on B': adaB }
  for (const client of Object.values(others)) await client.next(isPresence(ada, 'online'))

  const chosen: string[] = []
  const visible: string[] = ['online']
  /** ada chooses `presence` on `from`: her connections on both instances hear it; others hear `seen`, or nothing. */
  async function choose(from: TestClient, presence: string, seen: string | null) {
    from.send({ type: 'presence:update', data: { presence } })
    chosen.push(presence)
    await expectPresence(t, own, ada, presence, `gets the real state, ${presence}`)
    if (seen !== null) {
      visible.push(seen)
      await expectPresence(t, others, ada, seen, `sees ${seen} when ada chooses ${presence}`)
    }
  }

  await choose(adaA, 'online', null) // unchanged
  await choose(adaB, 'idle', 'idle')
  await choose(adaA, 'idle', null) // unchanged, from the other instance
  await choose(adaA, 'dnd', 'dnd')
  await choose(adaB, 'invisible', 'offline')
  await choose(adaA, 'invisible', null)
  await choose(adaA, 'online', 'online')
  await settle({ ...own, ...others })
  expectPresenceHistory(t, own, ada, ['online', ...chosen], 'her own state right after connected, then every choice, once each')
  expectPresenceHistory(t, others, ada, visible, 'each visible change once, nothing for the rest')

  await choose(adaB, 'dnd', 'dnd')
  const nodes = { A: A!, B: B!, C: C! }
  await presenceEverywhere(t, nodes, watchC, { [ada]: 'dnd' }, 'others see dnd')
  // The last choice (dnd, on B) is what is stored, whichever instance wrote the choices before it.
  let stored: unknown
  // Database writes are asynchronous and retried; under load they take a while to land.
  await eventually(async () => (stored = (await userDoc(db, ada))?.chosen_presence) === 'dnd', 3 * WAIT_MS).catch(() => {})
  t.equal(stored, 'dnd', 'users.chosen_presence holds the last choice')
  await choose(adaA, 'invisible', 'offline')
  await presenceEverywhere(t, nodes, watchB, { [ada]: 'offline' }, 'others see invisible ada offline')
  await presenceEverywhere(t, nodes, ada, { [ada]: 'invisible' }, 'ada sees herself invisible')
})
