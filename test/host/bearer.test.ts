/**
 * One rule for `Authorization: Bearer` (lib/support/bearer.ts): every
 * spelling of the header is accepted or refused alike on /ws (the upgrade),
 * /presence (an access token) and /publish (the API key).
 */
import t from 'tap'
import { build, objectId } from '../helper.js'
import { probe } from './probe.js'

const KEY = 'bearer-test-key-0123456789abcdef'

/** A header spelling, and whether the one rule reads a credential from it. */
const SPELLINGS: Array<[string, (credential: string) => string, boolean]> = [
  ['Bearer <credential>', (c) => `Bearer ${c}`, true],
  ['bearer in lower case', (c) => `bearer ${c}`, true],
  ['BEARER in upper case', (c) => `BEARER ${c}`, true],
  ['two spaces', (c) => `Bearer  ${c}`, true],
  ['a tab instead of the space', (c) => `Bearer\t${c}`, false],
  ['a space and a tab', (c) => `Bearer \t${c}`, false],
  ['no space', (c) => `Bearer${c}`, false],
  ['something after the credential', (c) => `Bearer ${c} extra`, false],
  ['a second credential after a comma', (c) => `Bearer ${c}, x`, false],
  ['another scheme', (c) => `Basic ${c}`, false],
  ['the scheme alone', () => 'Bearer', false],
  ['the credential alone', (c) => c, false],
]

t.test('every spelling of Authorization: Bearer gets the same answer on /ws, /presence and /publish', async (t) => {
  const built = await build(t, { realtime: { apiKey: KEY, httpRateLimitPerMin: 10_000 } })
  const token = built.token(objectId())
  for (const [what, spell, accepted] of SPELLINGS) {
    const ws = await probe(built.url, '/ws', { upgrade: true, headers: { authorization: spell(token) } })
    const presence = await probe(built.url, `/presence?user_ids=${objectId()}`, { headers: { authorization: spell(token) } })
    const publish = await probe(built.url, '/publish', {
      method: 'POST',
      headers: { authorization: spell(KEY), 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'news', data: {}, everyone: true }),
    })
    t.same(
      { ws: ws.status, presence: presence.status, publish: publish.status },
      accepted ? { ws: 101, presence: 200, publish: 202 } : { ws: 401, presence: 401, publish: 401 },
      `${what}: ${accepted ? 'accepted' : 'refused with 401'} everywhere`,
    )
  }
})

t.test('a malformed Bearer header beside a good ?token= is refused; another scheme beside it is left alone', async (t) => {
  const built = await build(t)
  const token = built.token(objectId())
  const query = `/ws?token=${encodeURIComponent(token)}`
  const malformed = await probe(built.url, query, { upgrade: true, headers: { authorization: `Bearer ${token} extra` } })
  t.equal(malformed.status, 401, 'Bearer <token> extra with the token in the query: 401, not the query token alone')
  const basic = await probe(built.url, query, { upgrade: true, headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.equal(basic.status, 101, 'Basic credentials of a site behind a password, with the token in the query: upgraded')
})
