/**
 * `POST /publish` (contract section 8): the application, standalone, pushes an
 * event to users, a channel's members or everyone, with the API key. Every
 * refusal is a JSON `{ error, message }` and delivers nothing, which a round
 * trip (`sync`) on the connected clients proves.
 */
import t, { type Test } from 'tap'
import { build, objectId, withoutOffset, type BuiltApp, type TestClient } from './helper.js'
import { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'
import { MemoryPresenceStore } from '../lib/presence/presence-store-memory.js'
import type { MembershipStore } from '../lib/membership/membership-store.js'
import { internalsOf } from '../plugins/internals.js'

const KEY = 'publish-test-key-0123456789abcdef'
const AUTH = { authorization: `Bearer ${KEY}` }
/** Generous limits: the refusal tests send many round trips on one connection. */
const LIMITS = { rateLimitPerSec: 1000, rateLimitBurst: 1000 }

interface Answer {
  status: number
  contentType: string
  body: any
}

/** POSTs to /publish: a value is sent as JSON, a string as it is. */
async function publish(url: string, body: unknown, headers: Record<string, string> = AUTH): Promise<Answer> {
  const answer = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await answer.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: answer.status, contentType: answer.headers.get('content-type') ?? '', body: parsed }
}

interface Setup extends BuiltApp {
  ada: string
  grace: string
  /** Ada's two connections and Grace's one. */
  clients: TestClient[]
}

/** The service with the key, and two users connected (Ada twice), who would see anything published. */
async function setup(t: Test, apiKey: string | null = KEY): Promise<Setup> {
  const built = await build(t, { realtime: apiKey === null ? LIMITS : { ...LIMITS, apiKey } })
  const [ada, grace] = [objectId(), objectId()]
  const clients = [await built.connect(ada), await built.connect(ada), await built.connect(grace)]
  // Ada is told Grace came online: read it now, so that later round trips show only what was published.
  for (const client of clients) await client.sync()
  return { ...built, ada, grace, clients }
}

/** Asserts the answer is the refusal expected, as JSON `{ error, message }`, and that no client received anything. */
async function refused(t: Test, s: Setup, answer: Answer, status: number, error: string, message: RegExp): Promise<void> {
  t.equal(answer.status, status, `answered ${status}`)
  t.match(answer.contentType, /^application\/json/, 'as JSON')
  t.strictSame(Object.keys(answer.body ?? {}).sort(), ['error', 'message'], 'with exactly error and message')
  t.equal(answer.body?.error, error, `error is ${error}`)
  t.match(answer.body?.message, message, 'the message says why')
  for (const client of s.clients) t.strictSame(await client.sync(), [], 'nothing was delivered')
}

/** Each of `clients` receives `event`, exactly { type, data }, and nothing more. */
async function receivedOnce(t: Test, clients: TestClient[], event: { type: string; data: object }, what: string): Promise<void> {
  for (const client of clients) {
    t.strictSame(withoutOffset(await client.next(event.type)), event, what)
    t.strictSame(await client.sync(), [], 'once')
  }
}

/** Publishes `event` to `recipients` that leave Grace out: both of Ada's connections receive it, Grace nothing. */
async function toAdaNotGrace(t: Test, s: Setup, event: { type: string; data: object }, recipients: object): Promise<void> {
  const [adaTab, adaPhone, graceClient] = s.clients as [TestClient, TestClient, TestClient]
  const answer = await publish(s.url, { ...event, ...recipients })
  t.equal(answer.status, 202)
  t.strictSame(withoutOffset(await adaTab.next(event.type)), event)
  t.strictSame(withoutOffset(await adaPhone.next(event.type)), event)
  t.strictSame(await graceClient.sync(), [], 'the excluded user receives nothing')
}

/** A body every connected user would receive if it were accepted. */
const toEveryone = { type: 'message:new', data: { text: 'hello' }, everyone: true }

t.test('without the right key: 401 before the body is looked at', async (t) => {
  const s = await setup(t)
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no Authorization header', {}, /Authorization: Bearer/],
    ['another scheme', { authorization: `Basic ${Buffer.from(`api:${KEY}`).toString('base64')}` }, /Authorization: Bearer/],
    ['the key without a scheme', { authorization: KEY }, /Authorization: Bearer/],
    ['Bearer and nothing else', { authorization: 'Bearer ' }, /Authorization: Bearer/],
    ['a wrong key of the same length', { authorization: `Bearer ${KEY.slice(0, -1)}X` }, /not valid/],
    ['a key of another length (a prefix of the right one)', { authorization: `Bearer ${KEY.slice(0, 16)}` }, /not valid/],
    ['a key of another length (the right one and more)', { authorization: `Bearer ${KEY}0` }, /not valid/],
    ['the key of a JWT (an access token is not the API key)', { authorization: `Bearer ${s.token(s.ada)}` }, /not valid/],
  ]
  for (const [name, headers, message] of cases) {
    await t.test(name, async (t) => {
      const answer = await publish(s.url, toEveryone, headers)
      await refused(t, s, answer, 401, 'unauthorized', message)
    })
  }
  await t.test('a bad body without the key is still 401, not 400', async (t) => {
    await refused(t, s, await publish(s.url, '{"type": nope', {}), 401, 'unauthorized', /Bearer/)
  })
  await t.test('the scheme is case-insensitive', async (t) => {
    const answer = await publish(s.url, { ...toEveryone, data: { n: 1 } }, { authorization: `bearer ${KEY}` })
    t.equal(answer.status, 202)
    for (const client of s.clients) t.strictSame(withoutOffset(await client.next('message:new')), { type: 'message:new', data: { n: 1 } })
  })
})

t.test('without ROOMLER__REALTIME__API_KEY the route is disabled: 404 whatever the key', async (t) => {
  const s = await setup(t, null)
  t.equal(s.app.realtimeConfig.realtime.apiKey, undefined, 'no key is configured')
  for (const headers of [AUTH, {}]) {
    const answer = await publish(s.url, toEveryone, headers)
    await refused(t, s, answer, 404, 'not_found', /disabled.*ROOMLER__REALTIME__API_KEY/)
  }
})

t.test('a body that is not a JSON object: 400, 413 or 415', async (t) => {
  const s = await setup(t)
  await t.test('not JSON', async (t) => {
    await refused(t, s, await publish(s.url, '{"type": "message:new", '), 400, 'bad_request', /JSON/)
  })
  await t.test('no body at all', async (t) => {
    const answer = await fetch(`${s.url}/publish`, { method: 'POST', headers: AUTH })
    await refused(t, s, { status: answer.status, contentType: answer.headers.get('content-type') ?? '', body: await answer.json() }, 400, 'bad_request', /JSON object/)
  })
  for (const body of ['[]', '"message:new"', '42', 'null']) {
    await t.test(`JSON ${body}`, async (t) => {
      await refused(t, s, await publish(s.url, body), 400, 'bad_request', /JSON object/)
    })
  }
  await t.test('not sent as JSON', async (t) => {
    const answer = await publish(s.url, JSON.stringify(toEveryone), { ...AUTH, 'content-type': 'application/xml' })
    await refused(t, s, answer, 415, 'unsupported_media_type', /./)
  })
  await t.test('larger than 1 MiB', async (t) => {
    const answer = await publish(s.url, { ...toEveryone, data: { text: 'x'.repeat(1024 * 1024) } })
    await refused(t, s, answer, 413, 'payload_too_large', /./)
  })
})

t.test('a body that breaks the schema: 400 naming the field', async (t) => {
  const s = await setup(t)
  const bad = 'not-an-object-id'
  const cases: Array<[string, unknown, RegExp]> = [
    ['missing type', { data: {}, everyone: true }, /body\/type is required/],
    ['empty type', { type: '', data: {}, everyone: true }, /body\/type: expected a type/],
    ['a type with a space', { type: 'message new', data: {}, everyone: true }, /body\/type: expected a type/],
    ['a type of 65 characters', { type: 'm'.repeat(65), data: {}, everyone: true }, /body\/type: expected a type of 1 to 64/],
    ['a type that is not a string', { type: 7, data: {}, everyone: true }, /body\/type/],
    ['missing data', { type: 'message:new', everyone: true }, /body\/data is required/],
    ['data a string', { type: 'message:new', data: 'hello', everyone: true }, /body\/data: expected a JSON object/],
    ['data an array', { type: 'message:new', data: ['hello'], everyone: true }, /body\/data: expected a JSON object/],
    ['data null', { type: 'message:new', data: null, everyone: true }, /body\/data: expected a JSON object/],
    ['everyone: false', { type: 'message:new', data: {}, everyone: false }, /body\/everyone: expected true/],
    ['everyone: "true" (no coercion)', { type: 'message:new', data: {}, everyone: 'true' }, /body\/everyone: expected true/],
    ['an extra field', { ...toEveryone, channel: objectId() }, /body\/channel is not a field/],
    ['a bad ObjectId in user_ids', { type: 'message:new', data: {}, user_ids: [s.ada, bad] }, /body\/user_ids\/1: expected an ObjectId/],
    ['user_ids empty', { type: 'message:new', data: {}, user_ids: [] }, /body\/user_ids/],
    ['user_ids not an array', { type: 'message:new', data: {}, user_ids: s.ada }, /body\/user_ids/],
    ['the same user twice in user_ids', { type: 'message:new', data: {}, user_ids: [s.ada, s.ada] }, /body\/user_ids.*unique/],
    ['the same user twice in user_ids, in two cases', { type: 'message:new', data: {}, user_ids: [s.ada, s.ada.toUpperCase()] }, /same user twice/],
    ['a bad channel_id', { type: 'message:new', data: {}, channel_id: bad }, /body\/channel_id: expected an ObjectId/],
    ['a bad ObjectId in exclude_user_ids', { ...toEveryone, exclude_user_ids: [bad] }, /body\/exclude_user_ids\/0: expected an ObjectId/],
  ]
  for (const [name, body, message] of cases) {
    await t.test(name, async (t) => {
      await refused(t, s, await publish(s.url, body), 400, 'bad_request', message)
    })
  }
})

t.test('exactly one of user_ids, channel_id or everyone: 400 otherwise', async (t) => {
  const s = await setup(t)
  const channel = objectId()
  ;(internalsOf(s.app).realtimeStores.membership as MemoryMembershipStore).addMember(channel, s.ada)
  const event = { type: 'message:new', data: {} }
  const cases: Array<[string, object, RegExp]> = [
    ['none', {}, /exactly one of user_ids, channel_id or everyone: none was given/],
    ['none, only exclude_user_ids', { exclude_user_ids: [s.grace] }, /none was given/],
    ['user_ids and everyone', { user_ids: [s.ada], everyone: true }, /got user_ids and everyone/],
    ['user_ids and channel_id', { user_ids: [s.ada], channel_id: channel }, /got user_ids and channel_id/],
    ['channel_id and everyone', { channel_id: channel, everyone: true }, /got channel_id and everyone/],
    ['all three', { user_ids: [s.ada], channel_id: channel, everyone: true }, /got user_ids and channel_id and everyone/],
  ]
  for (const [name, recipients, message] of cases) {
    await t.test(name, async (t) => {
      await refused(t, s, await publish(s.url, { ...event, ...recipients }), 400, 'bad_request', message)
    })
  }
})

t.test('a type the protocol reserves: 400 saying it is reserved', async (t) => {
  const s = await setup(t)
  const types = ['connected', 'pong', 'error', 'presence:update', 'typing:start', 'typing:stop', 'typing:whatever', 'auth:refresh', 'auth:anything', 'PONG', 'Typing:Start']
  for (const type of types) {
    await t.test(type, async (t) => {
      const answer = await publish(s.url, { type, data: { user_id: s.grace, presence: 'online' }, everyone: true })
      await refused(t, s, answer, 400, 'bad_request', new RegExp(`type "${type}" is reserved`))
    })
  }
})

t.test('by user ids: every connection of each named user, nobody else', async (t) => {
  const s = await setup(t)
  const bob = objectId()
  const bobClient = await s.connect(bob)
  const event = { type: 'message:new', data: { channel_id: objectId(), text: 'hi', nested: { list: [1, 'two', null], ok: true }, emoji: '👋' } }
  const answer = await publish(s.url, { ...event, user_ids: [s.ada, s.grace] })
  t.equal(answer.status, 202)
  t.match(answer.contentType, /^application\/json/)
  t.strictSame(answer.body, { accepted: true })
  await receivedOnce(t, s.clients, event, 'the event is exactly { type, data }')
  t.strictSame(await bobClient.sync(), [], 'a user not named receives nothing')
})

t.test('by user ids, with exclude_user_ids left out', async (t) => {
  const s = await setup(t)
  await toAdaNotGrace(t, s, { type: 'channel:updated', data: { name: 'general' } }, { user_ids: [s.ada, s.grace], exclude_user_ids: [s.grace] })
})

t.test('ids in capitals name the same users (ObjectIds are case-insensitive)', async (t) => {
  const s = await setup(t)
  await toAdaNotGrace(t, s, { type: 'message:new', data: {} }, {
    user_ids: [s.ada.toUpperCase(), s.grace.toUpperCase()],
    exclude_user_ids: [s.grace.toUpperCase()],
  })
})

t.test('to a user with no connection: 202, and nobody receives it', async (t) => {
  const s = await setup(t)
  const answer = await publish(s.url, { type: 'message:new', data: {}, user_ids: [objectId()] })
  t.equal(answer.status, 202)
  t.strictSame(answer.body, { accepted: true })
  for (const client of s.clients) t.strictSame(await client.sync(), [])
})

t.test('by channel: its members only, with exclude_user_ids left out', async (t) => {
  const s = await setup(t)
  const [adaTab, adaPhone, graceClient] = s.clients as [TestClient, TestClient, TestClient]
  const bob = objectId()
  const bobClient = await s.connect(bob)
  const channel = objectId()
  const membership = internalsOf(s.app).realtimeStores.membership as MemoryMembershipStore
  membership.addMember(channel, s.ada)
  membership.addMember(channel, s.grace)
  membership.addMember(objectId(), bob) // a member of another channel

  const event = { type: 'message:new', data: { channel_id: channel, text: 'to the channel' } }
  t.equal((await publish(s.url, { ...event, channel_id: channel })).status, 202)
  await receivedOnce(t, [adaTab, adaPhone, graceClient], event, 'a member receives exactly { type, data }')
  t.strictSame(await bobClient.sync(), [], 'a non-member receives nothing')

  const edited = { type: 'message:edited', data: { channel_id: channel, text: 'edited' } }
  t.equal((await publish(s.url, { ...edited, channel_id: channel.toUpperCase(), exclude_user_ids: [s.ada] })).status, 202)
  t.strictSame(withoutOffset(await graceClient.next('message:edited')), edited, 'the member not left out receives it')
  for (const client of [adaTab, adaPhone, bobClient]) t.strictSame(await client.sync(), [], 'the excluded member and the non-member receive nothing')
})

t.test('by channel, when the members cannot be read: 503 unavailable, nothing delivered', async (t) => {
  const failing: MembershipStore = {
    channelMembers: async () => {
      throw new Error('database down')
    },
    ping: async () => {
      throw new Error('database down')
    },
  }
  const built = await build(t, { realtime: { ...LIMITS, apiKey: KEY }, stores: { membership: failing, presence: new MemoryPresenceStore() } })
  const ada = objectId()
  const s: Setup = { ...built, ada, grace: objectId(), clients: [await built.connect(ada)] }
  const answer = await publish(s.url, { type: 'message:new', data: {}, channel_id: objectId() })
  await refused(t, s, answer, 503, 'unavailable', /retry/)
})

t.test('everyone: every connected user, with exclude_user_ids left out', async (t) => {
  const s = await setup(t)
  const [adaTab, adaPhone, graceClient] = s.clients as [TestClient, TestClient, TestClient]
  const bob = objectId()
  const bobClient = await s.connect(bob)
  const event = { type: 'Announcement.v2', data: { text: 'maintenance at noon' } }
  t.equal((await publish(s.url, { ...event, everyone: true })).status, 202)
  await receivedOnce(t, [adaTab, adaPhone, graceClient, bobClient], event, 'every connection receives exactly { type, data }')

  const again = { type: 'announcement:cancelled', data: {} }
  t.equal((await publish(s.url, { ...again, everyone: true, exclude_user_ids: [s.ada, bob] })).status, 202)
  t.strictSame(withoutOffset(await graceClient.next('announcement:cancelled')), again)
  for (const client of [adaTab, adaPhone, bobClient]) t.strictSame(await client.sync(), [], 'excluded users receive nothing')
})

t.test('a body just under the limit is delivered whole', async (t) => {
  const s = await setup(t)
  const event = { type: 'file:preview', data: { text: 'x'.repeat(1000 * 1000) } }
  t.equal((await publish(s.url, { ...event, user_ids: [s.grace] })).status, 202)
  t.strictSame(withoutOffset(await s.clients[2]!.next('file:preview')), event)
})
