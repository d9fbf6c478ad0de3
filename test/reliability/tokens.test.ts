/**
 * Hostile tokens (issue 3, reliability suite; contract sections 1 and 2):
 * forged, tampered, expired, `alg: none` in every spelling, algorithm
 * confusion, wrong issuer, refresh tokens, bad claim shapes, malformed `sub`,
 * broken encodings, and valid tokens in places the service does not read
 * them from. Every one is refused before the upgrade with 401 (400 for a
 * well-signed token whose `sub` is not an ObjectId) and a JSON body; no
 * upgrade ever happens; /metrics counts the refusals; no log line holds a
 * token; and the same tokens sent as `auth:refresh` change nothing.
 */
import { createHmac } from 'node:crypto'
import t from 'tap'
import fc from 'fast-check'
import { build, forgeToken, ISSUER, objectId, refusal, SECRET, signToken } from '../helper.js'
import { recordFigures } from './record.js'
import { internalsOf } from '../../plugins/internals.js'
import { percentDecoded, percentEncoded, unsigned } from '../host/probe.js'

const SEED = Number(process.env.TOKENS_SEED ?? Date.now() % 2 ** 31)
/** Random variants per generated kind. */
const RUNS = 50
/** Upgrades tried at once. */
const BATCH = 16

interface Variant {
  kind: string
  label: string
  /** The query string after `/ws` (with its `?`), or empty. */
  query: string
  headers?: Record<string, string>
  /** The token in it, to look for in logs; undefined when there is none. */
  token?: string
  status: 401 | 400
  /** The refusal's message must match this, when the case is that specific. */
  message?: RegExp
}

const now = () => Math.floor(Date.now() / 1000)
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url')
const json64 = (value: unknown) => b64(JSON.stringify(value))

/** Header and payload segments as given, signed with HMAC over them (any hash, any key). */
function hmacToken(headerSegment: string, payloadSegment: string, hash = 'sha256', secret: string | Buffer = SECRET): string {
  const input = `${headerSegment}.${payloadSegment}`
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}

function claimsFor(sub: unknown, over: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    sub,
    email: 'user@example.test',
    username: 'user',
    iat: now(),
    exp: now() + 3600,
    iss: ISSUER,
    token_type: 'access',
    ...over,
  }
  for (const [key, value] of Object.entries(claims)) if (value === undefined) delete claims[key]
  return claims
}

const HS256 = { alg: 'HS256', typ: 'JWT' }
/** Exactly these claims (nothing added), signed HS256 with the service's secret. */
const signClaims = (claims: Record<string, unknown>) => forgeToken(HS256, claims)

/** Every capitalisation of a word. */
function capitalisations(word: string): string[] {
  let out = ['']
  for (const char of word) out = out.flatMap((prefix) => [...new Set([prefix + char.toLowerCase(), prefix + char.toUpperCase()])])
  return out
}

function flipBit(segment: string, bit: number): string {
  const bytes = Buffer.from(segment, 'base64url')
  bytes[Math.floor(bit / 8) % bytes.length]! ^= 1 << (bit % 8)
  return bytes.toString('base64url')
}

function hostileVariants(sub: string): Variant[] {
  const variants: Variant[] = []
  const add = (kind: string, label: string, token: string, status: 401 | 400 = 401, message?: RegExp) =>
    variants.push({ kind, label, query: `?token=${encodeURIComponent(token)}`, token, status, message })
  const sample = <T>(arb: fc.Arbitrary<T>, runs = RUNS) => fc.sample(arb, { numRuns: runs, seed: SEED + variants.length })
  const valid = signToken({ sub })
  const [validHeader, validPayload, validSignature] = valid.split('.') as [string, string, string]

  // Forged: the right claims signed with any other secret.
  for (const secret of sample(fc.oneof(fc.string({ maxLength: 64 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 64 })).filter((s) => s !== SECRET))) {
    add('forged-secret', `secret ${JSON.stringify(secret)}`, signToken({ sub }, secret))
  }
  add('forged-secret', 'the secret with one character more', signToken({ sub }, `${SECRET}x`))
  add('forged-secret', 'the secret with one character less', signToken({ sub }, SECRET.slice(0, -1)))
  add('forged-secret', 'the dev default secret', signToken({ sub }, 'change-me-in-production'))

  // Tampered: one bit of the signature, header or payload flipped, or the claims changed under the old signature.
  for (const bit of sample(fc.integer({ min: 0, max: 255 }))) {
    add('flipped-bit', `signature bit ${bit}`, `${validHeader}.${validPayload}.${flipBit(validSignature, bit)}`)
  }
  for (const [bit, inHeader] of sample(fc.tuple(fc.nat(), fc.boolean()), 20)) {
    const header = inHeader ? flipBit(validHeader, bit % (Buffer.from(validHeader, 'base64url').length * 8)) : validHeader
    const payload = inHeader ? validPayload : flipBit(validPayload, bit % (Buffer.from(validPayload, 'base64url').length * 8))
    add('flipped-bit', `${inHeader ? 'header' : 'payload'} bit ${bit}`, `${header}.${payload}.${validSignature}`)
  }
  add('tampered', 'sub changed, signature kept', `${validHeader}.${json64(claimsFor(objectId()))}.${validSignature}`)
  add('tampered', 'exp extended, signature kept', `${validHeader}.${json64(claimsFor(sub, { exp: now() + 10 * 365 * 86400 }))}.${validSignature}`)
  add('tampered', 'signature removed', `${validHeader}.${validPayload}.`)
  add('tampered', 'signature of another token', `${validHeader}.${validPayload}.${signToken({ sub: objectId() }).split('.')[2]}`)
  add('tampered', 'signature with standard base64 padding', `${valid}=`)

  // Expired, by any amount up to ten years; exactly now is expired too.
  for (const ago of sample(fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 10 * 365 * 86400 })))) {
    add('expired', `expired ${ago} s ago`, signToken({ sub, exp: now() - ago, iat: now() - ago - 3600 }))
  }

  // alg none, in every capitalisation, with and without a signature.
  const noneClaims = json64(claimsFor(sub))
  for (const none of capitalisations('none')) {
    const header = json64({ alg: none, typ: 'JWT' })
    add('alg-none', `alg ${none}, empty signature`, `${header}.${noneClaims}.`)
    add('alg-none', `alg ${none}, no signature segment`, `${header}.${noneClaims}`)
    add('alg-none', `alg ${none}, HS256 signature`, hmacToken(header, noneClaims))
    add('alg-none', `alg ${none}, junk signature`, `${header}.${noneClaims}.AAAA`)
  }
  add('alg-none', 'no alg at all, HS256 signature', hmacToken(json64({ typ: 'JWT' }), noneClaims))
  add('alg-none', 'alg null', hmacToken(json64({ alg: null, typ: 'JWT' }), noneClaims))
  add('alg-none', 'alg empty', hmacToken(json64({ alg: '', typ: 'JWT' }), noneClaims))

  // Algorithm confusion: HS384/HS512 signed properly with the secret; asymmetric algorithms with an HMAC made with the secret.
  for (const [alg, hash] of [['HS384', 'sha384'], ['HS512', 'sha512']] as const) {
    add('alg-confusion', `${alg} with the same secret`, hmacToken(json64({ alg, typ: 'JWT' }), noneClaims, hash))
  }
  for (const alg of ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA']) {
    for (const hash of ['sha256', 'sha384', 'sha512']) {
      add('alg-confusion', `${alg} header, HMAC-${hash} with the secret`, hmacToken(json64({ alg, typ: 'JWT' }), noneClaims, hash))
    }
  }
  for (const alg of ['hs256', 'Hs256', 'HS256 ', ' HS256', 'HS 256', 'HS256\u0000', ['HS256'], { alg: 'HS256' }, 256]) {
    add('alg-confusion', `alg ${JSON.stringify(alg)}`, hmacToken(json64({ alg, typ: 'JWT' }), noneClaims))
  }

  // Issuer wrong or missing.
  for (const iss of [
    ...sample(fc.string({ maxLength: 20 }).filter((s) => s !== ISSUER), 20),
    'Roomler2', 'ROOMLER2', 'roomler2 ', ' roomler2', 'roomler', 'roomler22', 'roomler2\u0000', null, 0, true, [ISSUER], { iss: ISSUER }, undefined,
  ]) {
    add('wrong-issuer', `iss ${JSON.stringify(iss) ?? 'missing'}`, signClaims(claimsFor(sub, { iss })))
  }

  // Refresh tokens and every other token_type.
  for (const tokenType of ['refresh', 'Refresh', 'REFRESH', 'Access', 'ACCESS', 'access ', ' access', 'access\u0000', '', 'id', null, 1, true, ['access'], { access: true }, undefined]) {
    add('token-type', `token_type ${JSON.stringify(tokenType) ?? 'missing'}`, signClaims(claimsFor(sub, { token_type: tokenType })))
  }

  // exp missing or not a number; nbf in the future.
  for (const exp of [undefined, null, String(now() + 3600), `${now() + 3600}.0`, true, [now() + 3600], { exp: now() + 3600 }, '', 'never']) {
    add('exp-shape', `exp ${JSON.stringify(exp) ?? 'missing'}`, signClaims(claimsFor(sub, { exp })))
  }
  for (const ahead of sample(fc.integer({ min: 60, max: 365 * 86400 }), 10)) {
    add('nbf-future', `nbf ${ahead} s ahead`, signClaims(claimsFor(sub, { nbf: now() + ahead })))
  }

  // Well signed, but sub is not a 24-hex ObjectId: 400.
  const notObjectId = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.stringMatching(/^[0-9a-f]{1,23}$/),
    fc.stringMatching(/^[0-9a-f]{25,40}$/),
    fc.stringMatching(/^[0-9a-f]{23}[g-z]$/),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.stringMatching(/^[0-9a-f]{24}$/), { minLength: 1, maxLength: 2 }),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 })),
  ).filter((value) => !(typeof value === 'string' && /^[0-9a-fA-F]{24}$/.test(value)))
  for (const bad of [
    ...sample(notObjectId, 60),
    '', 123, 6.5e28, sub.slice(1), `${sub}0`, `${sub.slice(0, 23)}g`, `${sub.slice(0, 23)}Z`, `${sub}\n`, ` ${sub}`, `${sub} `,
    sub.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d))), `0x${sub.slice(2)}`, [sub], { $oid: sub }, null, true, undefined,
  ]) {
    add('malformed-sub', `sub ${JSON.stringify(bad) ?? 'missing'}`, signClaims(claimsFor(bad)), 400)
  }

  // Header or payload not JSON, or not an object, under a good HS256 signature.
  const goodPayload = json64(claimsFor(sub))
  for (const headerText of ['not json', '[]', '["HS256"]', '"HS256"', 'null', '123', 'true', '{"alg":"HS256"', '{"alg":"HS256"}}', '', '\u0000', '{"alg":"HS256","alg":"none"}']) {
    add('not-json', `header ${JSON.stringify(headerText)}`, hmacToken(b64(headerText), goodPayload), 401)
  }
  for (const payloadText of ['not json', '[]', `[${JSON.stringify(claimsFor(sub))}]`, '"x"', 'null', '123', 'true', '{', '', '\u0000', JSON.stringify(JSON.stringify(claimsFor(sub)))]) {
    add('not-json', `payload ${JSON.stringify(payloadText.slice(0, 40))}`, hmacToken(b64(JSON.stringify(HS256)), b64(payloadText)), 401)
  }
  for (const [label, token] of [
    ['segments not base64url', '!!!.###.$$$'],
    ['standard base64 alphabet', valid.replace(/-/g, '+').replace(/_/g, '/') + (valid.includes('-') || valid.includes('_') ? '' : '+')],
    ['header in plain text', `{"alg":"HS256"}.${validPayload}.${validSignature}`],
  ] as const) {
    add('not-json', label, token)
  }

  // Segments: too many, too few, empty, swapped, padded with whitespace, huge.
  for (const [label, token] of [
    ['one extra segment', `${valid}.${validSignature}`],
    ['an empty fourth segment', `${valid}.`],
    ['five segments', `${valid}.a.b`],
    ['two segments', `${validHeader}.${validPayload}`],
    ['payload and signature only', `${validPayload}.${validSignature}`],
    ['one segment', validPayload],
    ['a leading dot', `.${valid}`],
    ['segments swapped', `${validPayload}.${validHeader}.${validSignature}`],
    ['dots only', '..'],
    ['three dots', '...'],
    ['a space first', ` ${valid}`],
    ['a space last', `${valid} `],
    ['a newline inside', `${validHeader}.${validPayload}\n.${validSignature}`],
    ['the token twice', `${valid}${valid}`],
    ['the word Bearer in it', `Bearer ${valid}`],
    ['8 KiB of base64url', `${'A'.repeat(2730)}.${'B'.repeat(2730)}.${'C'.repeat(2730)}`],
    ['a single character', 'a'],
  ] as const) {
    add('segments', label, token)
  }
  for (const junk of sample(fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }), 20)) {
    add('segments', `random text ${JSON.stringify(junk.slice(0, 20))}`, junk)
  }

  // A valid token anywhere but `?token=`: the service reads it nowhere else.
  const place = (label: string, query: string, headers?: Record<string, string>) =>
    variants.push({ kind: 'wrong-place', label, query, headers, token: valid, status: 401, message: /missing token/ })
  // Authorization: Bearer alone is a place for the token (contract section 2; test/host/secrets.test.ts).
  variants.push({
    kind: 'wrong-place',
    label: 'Authorization: Bearer, empty token in the query',
    query: '?token=',
    headers: { authorization: `Bearer ${valid}` },
    token: valid,
    status: 401,
    message: /differ/,
  })
  place('Authorization without a scheme', '', { authorization: valid })
  place('Sec-WebSocket-Protocol', '', { 'sec-websocket-protocol': valid })
  place('Sec-WebSocket-Protocol after a name', '', { 'sec-websocket-protocol': `roomler, ${valid}` })
  place('Cookie token', '', { cookie: `token=${valid}` })
  place('Cookie access_token', '', { cookie: `access_token=${valid}; other=1` })
  place('X-Access-Token header', '', { 'x-access-token': valid })
  place('access_token in the query', `?access_token=${valid}`)
  place('Token (capital T) in the query', `?Token=${valid}`)
  place('TOKEN in the query', `?TOKEN=${valid}`)
  place('token[] in the query', `?token[]=${valid}`)
  place('the token twice in the query', `?token=${valid}&token=${valid}`)
  place('the token as a bare query key', `?${valid}`)
  place('token= inside a percent-encoded value', `?x=1%26token%3D${valid}`)
  place('the token percent-encoded under another key', `?x=${percentEncoded(valid)}`)
  place('the token under any key name', `?auth=${valid}`)
  variants.push({ kind: 'wrong-place', label: 'a partial token (header.payload) under jwt=', query: `?jwt=${unsigned(valid)}`, token: unsigned(valid), status: 401, message: /missing token/ })
  place('no query at all', '')
  place('an empty token', '?token=')

  return variants
}

t.test('hostile tokens are refused before the upgrade, counted, and never logged', async (t) => {
  const started = Date.now()
  const built = await build(t)
  const sub = objectId()
  const variants = hostileVariants(sub)

  // The setup itself lets a good token in, with its sub in either case.
  const good = await built.connect(sub)
  t.equal(good.received[0]?.data.user_id, sub, 'a valid token connects')
  await good.close()
  const upper = await built.connect(sub.toUpperCase())
  t.equal(upper.received[0]?.data.user_id.toLowerCase(), sub, 'a sub in upper-case hex is an ObjectId too')
  await upper.close()
  const opensBefore = internalsOf(built.app).realtimeMetrics.connectionsOpened
  const refusedBefore = { 401: internalsOf(built.app).realtimeMetrics.refusals.get('401'), 400: internalsOf(built.app).realtimeMetrics.refusals.get('400') }

  const byKind: Record<string, number> = {}
  const byStatus: Record<string, number> = {}
  const failures: string[] = []
  for (let at = 0; at < variants.length; at += BATCH) {
    await Promise.all(
      variants.slice(at, at + BATCH).map(async (variant) => {
        byKind[variant.kind] = (byKind[variant.kind] ?? 0) + 1
        const what = `${variant.kind}: ${variant.label}`
        let answer: { status: number; body: any }
        try {
          answer = await refusal(`${built.wsUrl}${variant.query}`, variant.headers)
        } catch (error) {
          failures.push(`${what}: ${String(error)}`)
          return
        }
        byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1
        const body = answer.body
        const code = variant.status === 400 ? 'bad_request' : 'unauthorized'
        if (answer.status !== variant.status) failures.push(`${what}: status ${answer.status}, expected ${variant.status} (${JSON.stringify(body)})`)
        else if (typeof body !== 'object' || body === null || Object.keys(body).sort().join() !== 'error,message' || body.error !== code || typeof body.message !== 'string') {
          failures.push(`${what}: body ${JSON.stringify(body)} is not { error: "${code}", message }`)
        } else if (variant.message && !variant.message.test(body.message)) {
          failures.push(`${what}: message ${JSON.stringify(body.message)} does not match ${variant.message}`)
        } else if (variant.token && variant.token.length >= 8 && body.message.includes(variant.token)) {
          failures.push(`${what}: the refusal repeats the token`)
        }
      }),
    )
  }
  t.same(failures, [], `all ${variants.length} hostile variants refused before the upgrade with the contract's status and JSON body`)
  t.ok(variants.length >= 500, `${variants.length} variants tried`)
  t.same(capitalisations('none'), ['none', 'nonE', 'noNe', 'noNE', 'nOne', 'nOnE', 'nONe', 'nONE', 'None', 'NonE', 'NoNe', 'NoNE', 'NOne', 'NOnE', 'NONe', 'NONE'], 'alg none in all 16 capitalisations')

  const expected = {
    401: variants.filter((v) => v.status === 401).length,
    400: variants.filter((v) => v.status === 400).length,
  }
  const metrics = internalsOf(built.app).realtimeMetrics
  t.equal(metrics.connectionsOpened, opensBefore, 'no hostile variant opened a connection')
  t.equal(built.app.wsRegistry.connectionCount, 0, 'the registry holds no connection')
  t.equal(metrics.refusals.get('401') - refusedBefore[401], expected[401], 'the 401 refusals are counted')
  t.equal(metrics.refusals.get('400') - refusedBefore[400], expected[400], 'the 400 refusals are counted')
  const text = await (await fetch(`${built.url}/metrics`)).text()
  t.match(text, new RegExp(`^roomler_upgrades_refused_total\\{status="401"\\} ${refusedBefore[401] + expected[401]}$`, 'm'), 'GET /metrics shows the 401 count')
  t.match(text, new RegExp(`^roomler_upgrades_refused_total\\{status="400"\\} ${refusedBefore[400] + expected[400]}$`, 'm'), 'GET /metrics shows the 400 count')

  // No log line holds any token, raw or as it travelled in the URL.
  const secrets = new Set<string>()
  for (const variant of variants) {
    if (!variant.token || variant.token.length < 12) continue
    secrets.add(variant.token)
    secrets.add(encodeURIComponent(variant.token))
    // The signature alone identifies a token.
    const signature = variant.token.split('.')[2]
    if (signature && signature.length >= 20) secrets.add(signature)
  }
  const leaks = built.logs.filter((line) => [line, percentDecoded(line)].some((form) => [...secrets].some((secret) => form.includes(secret))))
  t.same(leaks.map((line) => line.slice(0, 300)), [], `none of ${built.logs.length} log lines contains any of ${secrets.size} token forms`)
  t.ok(built.logs.some((line) => line.includes('[REDACTED]')), 'the request lines are logged, with the token redacted')

  recordFigures('tokens', {
    tried: `${variants.length} hostile token variants in ${Object.keys(byKind).length} kinds (forged, tampered, expired, alg none in 16 spellings, algorithm confusion, wrong issuer, token types, bad exp, future nbf, malformed sub, not JSON, bad segments, valid tokens in the wrong place), ${BATCH} upgrades at a time`,
    held: t.passing()
      ? 'every one was refused before the upgrade with 401 (400 for a well-signed malformed sub) and a JSON { error, message } body; no connection opened; /metrics counted each refusal; no log line contained a token'
      : `NOT ALL HELD: ${failures.length} variants answered otherwise, ${leaks.length} log lines held a token; see the test output of this run`,
    figures: {
      variants: variants.length,
      ...Object.fromEntries(Object.entries(byKind).map(([kind, n]) => [`kind_${kind}`, n])),
      ...Object.fromEntries(Object.entries(byStatus).map(([status, n]) => [`status_${status}`, n])),
      log_lines_checked: built.logs.length,
      token_forms_searched: secrets.size,
      seed: SEED,
      duration_ms: Date.now() - started,
    },
  })
})

t.test('the same tokens sent as auth:refresh get unauthorized and change nothing', async (t) => {
  const started = Date.now()
  const built = await build(t, { realtime: { rateLimitPerSec: 1_000_000, rateLimitBurst: 1_000_000 } })
  const sub = objectId()
  const client = await built.connect(sub)
  const connection = [...built.app.wsRegistry.senders(sub)][0]!
  const expiresAt = connection.expiresAt
  const tokens = [...new Set(hostileVariants(sub).flatMap((v) => (v.kind === 'wrong-place' || !v.token ? [] : [v.token])))]
  const failures: string[] = []
  for (const token of tokens) {
    client.send({ type: 'auth:refresh', data: { token } })
    const answers = await client.sync()
    const want = token === '' ? 'invalid_message' : 'unauthorized'
    if (answers.length !== 1 || answers[0]!.type !== 'error' || answers[0]!.data.code !== want || (want === 'unauthorized' && answers[0]!.data.request_type !== 'auth:refresh')) {
      failures.push(`${JSON.stringify(token.slice(0, 60))}: ${JSON.stringify(answers).slice(0, 300)}`)
    }
  }
  t.same(failures, [], `each of ${tokens.length} hostile tokens got one error (unauthorized)`)
  t.equal(connection.expiresAt, expiresAt, 'the connection’s expiry did not move')
  t.equal(client.closeCode, undefined, 'the connection stays open')

  // And a good refresh still works afterwards.
  const freshExp = now() + 7200
  client.send({ type: 'auth:refresh', data: { token: signToken({ sub, exp: freshExp }) } })
  t.same(await client.sync(), [], 'a good refresh is accepted silently')
  t.equal(connection.expiresAt, freshExp * 1000, 'and extends the connection')

  recordFigures('tokens-refresh', {
    tried: `${tokens.length} distinct hostile tokens sent as auth:refresh on one open connection`,
    held: t.passing()
      ? 'each got exactly one error unauthorized; the connection’s expiry did not move and it stayed open; a good refresh then extended it'
      : 'NOT ALL HELD: see the test output of this run',
    figures: { tokens: tokens.length, duration_ms: Date.now() - started },
  })
})
