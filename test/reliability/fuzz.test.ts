/**
 * Bad input (issue 3, reliability suite): a property-based fuzzer sends
 * thousands of random and mutated frames to the real service on a real
 * database. For every frame the sender gets exactly its normal answer or one
 * `error` and stays connected; the user's other connection hears only the
 * presence it chose; an observer who shares no channel hears only the visible
 * presence changes of valid `presence:update` messages. Frames over
 * MAX_PAYLOAD_BYTES close with 1009 while everyone else is served.
 *
 * Which frames are valid is decided by the TypeBox schemas of the contract
 * (schemas/client-messages.ts), not by the service's own code path.
 * Rerun one sequence with FUZZ_SEED=<seed> (the seed is in the figures).
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { Value } from '@sinclair/typebox/value'
import { ObjectId, type Db } from 'mongodb'
import { clientMessages } from '../../schemas/client-messages.js'
import { serverMessages } from '../../schemas/server-messages.js'
import { visiblePresence, type ChosenPresence, type Presence } from '../../schemas/common.js'
import {
  build,
  eventually,
  forgeToken,
  mongoUrl,
  objectId,
  signToken,
  testDatabase,
  type BuiltApp,
  type ServerMessage,
  type TestClient,
} from '../helper.js'
import { recordFigures } from './record.js'

/** The service's default MAX_PAYLOAD_BYTES (contract section 6). */
const MAX_PAYLOAD = 16384
/** Random frames on top of the systematic ones. */
const RANDOM_FRAMES = Number(process.env.FUZZ_RUNS ?? 8000)
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
/** The observer and the user's second connection are checked every this many frames. */
const CHECKPOINT_EVERY = 200

const UNLIMITED = { rateLimitPerSec: 1_000_000, rateLimitBurst: 1_000_000 }
const CHOSEN: ChosenPresence[] = ['online', 'idle', 'dnd', 'invisible']

// ---------------------------------------------------------------------------
// Frames and what the contract says they get

type Kind =
  | 'valid'
  | 'field-wrong'
  | 'mutated'
  | 'broken-json'
  | 'random-json'
  | 'huge-number'
  | 'deep-nesting'
  | 'unicode'
  | 'binary'
  | 'prototype-key'

interface Frame {
  kind: Kind
  /** A text frame (sent as UTF-8) or the bytes of a binary frame. */
  payload: string | Uint8Array
  binary: boolean
}

type Answer =
  | { kind: 'pong' }
  | { kind: 'presence'; presence: ChosenPresence }
  | { kind: 'nothing' }
  | { kind: 'error'; code: string; requestType?: string }

interface Expectation {
  valid: boolean
  answer: Answer
}

const text = (kind: Kind, payload: string): Frame => ({ kind, payload, binary: false })
const json = (kind: Kind, value: unknown): Frame => text(kind, JSON.stringify(value) ?? 'undefined')

/** What the service echoes as `request_type` for an unknown type (lib/protocol/frame.ts shortens long ones). */
function echoType(type: string): string {
  return type.length > 64 ? `${type.slice(0, 64)}…` : type
}

interface Oracle {
  userId: string
  channelId: string
  /** auth:refresh tokens that must be accepted (same sub, valid). */
  goodTokens: ReadonlySet<string>
}

/** The contract's answer to one frame, decided from the schemas. */
function expectationOf(oracle: Oracle, frame: Frame): Expectation {
  const invalid = (code: string, requestType?: string): Expectation => ({
    valid: false,
    answer: { kind: 'error', code, requestType },
  })
  if (frame.binary) return invalid('invalid_json')
  // What the server reads: the UTF-8 the client sent (a lone surrogate travels as U+FFFD).
  const received = Buffer.from(frame.payload as string, 'utf8').toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(received)
  } catch {
    return invalid('invalid_json')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return invalid('invalid_message')
  const type = (parsed as { type?: unknown }).type
  if (typeof type !== 'string') return invalid('invalid_message')
  if (!Object.hasOwn(clientMessages, type)) return invalid('unknown_type', echoType(type))
  const schema = clientMessages[type as keyof typeof clientMessages]
  if (!Value.Check(schema, parsed)) return invalid('invalid_message', type)
  const data = (parsed as { data?: Record<string, string> }).data ?? {}
  switch (type) {
    case 'ping':
      return { valid: true, answer: { kind: 'pong' } }
    case 'presence:update':
      return { valid: true, answer: { kind: 'presence', presence: data.presence as ChosenPresence } }
    case 'typing:start':
    case 'typing:stop':
      return data.channel_id!.toLowerCase() === oracle.channelId
        ? { valid: true, answer: { kind: 'nothing' } }
        : { valid: true, answer: { kind: 'error', code: 'forbidden', requestType: type } }
    case 'auth:refresh':
      return oracle.goodTokens.has(data.token!)
        ? { valid: true, answer: { kind: 'nothing' } }
        : { valid: true, answer: { kind: 'error', code: 'unauthorized', requestType: type } }
  }
  throw new Error(`no answer known for ${type}`)
}

/** Checks what the sender received for one frame against the contract; throws with the reason. */
function checkAnswer(userId: string, frame: Frame, expected: Expectation, got: ServerMessage[]): void {
  const fail = (why: string): never => {
    const shown = typeof frame.payload === 'string' ? JSON.stringify(frame.payload.slice(0, 300)) : `<${frame.payload.length} binary bytes>`
    throw new Error(`${frame.kind} frame ${shown}: ${why}; expected ${JSON.stringify(expected.answer)}, got ${JSON.stringify(got).slice(0, 600)}`)
  }
  for (const message of got) {
    const schema = serverMessages[message.type as keyof typeof serverMessages]
    if (!schema || !Value.Check(schema, message)) fail(`a message outside the contract's server schemas`)
  }
  const answer = expected.answer
  switch (answer.kind) {
    case 'nothing':
      if (got.length !== 0) fail('expected no answer')
      return
    case 'pong':
      if (got.length !== 1 || got[0]!.type !== 'pong') fail('expected exactly one pong')
      return
    case 'presence': {
      const want = { type: 'presence:update', data: { user_id: userId, presence: answer.presence } }
      if (got.length !== 1 || JSON.stringify(got[0]) !== JSON.stringify(want)) fail('expected exactly its own presence:update')
      return
    }
    case 'error': {
      if (got.length !== 1) fail('expected exactly one error')
      const message = got[0]!
      if (message.type !== 'error') fail('expected an error')
      if (message.data.code !== answer.code) fail(`expected code ${answer.code}`)
      if (message.data.request_type !== answer.requestType) fail(`expected request_type ${JSON.stringify(answer.requestType)}`)
      if (answer.code === 'invalid_message' && typeof message.data.details?.field !== 'string') fail('invalid_message without details.field')
    }
  }
}

// ---------------------------------------------------------------------------
// Generators

const hex24 = fc.stringMatching(/^[0-9a-f]{24}$/)
const presenceArb = fc.constantFrom<ChosenPresence>(...CHOSEN)

/** Characters that break naive code: lone surrogates, NUL, direction marks, BOM, separators, emoji, look-alikes. */
const EDGE_CHARS = [
  '\ud800', '\udbff', '\udc00', '\udfff', '\u0000', '\u0001', '\u001f', '\u007f', '\u202e', '\u202d', '\u200f', '\u200e',
  '\u200b', '\u200d', '\ufeff', '\ufffe', '\uffff', '\u2028', '\u2029', '\u00a0', '\u0130', '\u0131', '\u212a',
  '😀', '👩‍👩‍👧‍👦', '🏳️‍🌈', '\ud83d', 'é', 'e\u0301', 'ｏ', '０', 'ﬁ', '\\', '"', '/', '\n', '\t', '\r',
]
const edgeChar = fc.constantFrom(...EDGE_CHARS)
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))
const anyCodePoint = fc.integer({ min: 0, max: 0x10ffff }).map((code) => String.fromCodePoint(code))
/** Strings of any UTF-16, lone surrogates included. */
const wildString = fc.string({ unit: fc.oneof(edgeChar, anyCodeUnit, anyCodePoint, fc.constantFrom('a', 'b', '1', ' ')), maxLength: 40 })

/** Numbers JSON can carry that are awkward to read: written raw into the frame's text. */
const HUGE_NUMBERS = [
  '1e309', '-1e309', '1e-400', '1E400', '-0', '0e0', '9007199254740993', '-9007199254740993', '123456789012345678901234567890',
  '1.7976931348623157e308', '5e-324', '0.' + '0'.repeat(3000) + '1', '9'.repeat(5000), '-' + '1'.repeat(4000),
  // Not JSON at all:
  'NaN', 'Infinity', '-Infinity', '0x10', '01', '+1', '.5', '1.', '1e', '--1', '1_000',
]
const hugeNumber = fc.oneof(
  fc.constantFrom(...HUGE_NUMBERS),
  fc.integer({ min: 300, max: 2000 }).map((exp) => `1e${exp}`),
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 256n }).map(String),
  fc.double().map((n) => String(n)),
)

/** The valid message of each type, to mutate from. */
function validMessages(oracle: Oracle, goodToken: string): Record<string, Record<string, unknown>> {
  return {
    ping: { type: 'ping', data: {} },
    'typing:start': { type: 'typing:start', data: { channel_id: oracle.channelId } },
    'typing:stop': { type: 'typing:stop', data: { channel_id: oracle.channelId } },
    'presence:update': { type: 'presence:update', data: { presence: 'idle' } },
    'auth:refresh': { type: 'auth:refresh', data: { token: goodToken } },
  }
}

/** Sets a key as an own property, even `__proto__`. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

const RAW = '\u0001raw:'
/** A value written raw into the JSON text (for numbers JSON.stringify cannot write). */
const raw = (literal: string) => `${RAW}${literal}\u0001`
function serialize(value: unknown, space?: string | number): string {
  const out = JSON.stringify(value, null, space) ?? 'undefined'
  return out.replace(/"\\u0001raw:(.*?)\\u0001"/g, (_m, literal: string) => literal)
}

/** Every way a field can be wrong, for the systematic pass. */
const MISSING = Symbol('missing')
function wrongValues(): unknown[] {
  return [
    MISSING, null, true, false, 0, -1, 1.5, raw('1e309'), raw('-1e309'), raw('123456789012345678901234567890'), '', ' ',
    'x', '\u0000', '😀', '\ud800', 'ONLINE', 'offline', 'Online', 'online ', 'online\u0000', 'ping', '65f1c0ffee0123456789abc',
    '65f1c0ffee0123456789abcde', '65f1c0ffee0123456789abcg', '６５f1c0ffee0123456789abcd', '65f1c0ffee0123456789abcd\n',
    [], ['online'], {}, { presence: 'online' }, { $oid: '65f1c0ffee0123456789abcd' }, 'x'.repeat(10_000),
  ]
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** Every field of every client message wrong in turn; unknown keys (prototype keys too) at each level. */
function systematicFrames(bases: Record<string, Record<string, unknown>>): Frame[] {
  const frames: Frame[] = []
  for (const [type, base] of Object.entries(bases)) {
    const data = base.data as Record<string, unknown>
    const paths: string[][] = [['type'], ['data'], ...Object.keys(data).map((field) => ['data', field])]
    for (const path of paths) {
      for (const wrong of wrongValues()) {
        const message = clone(base)
        const parent = path.length === 1 ? message : (message.data as Record<string, unknown>)
        const key = path[path.length - 1]!
        if (wrong === MISSING) delete parent[key]
        else setOwn(parent, key, wrong)
        frames.push(text('field-wrong', serialize(message)))
      }
    }
    for (const key of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'extra', '', 'type', 'data ']) {
      for (const level of ['root', 'data'] as const) {
        const message = clone(base)
        const target = level === 'root' ? message : (message.data as Record<string, unknown>)
        if (key === 'type' && level === 'root') continue
        setOwn(target, key, { polluted: true, isAdmin: true })
        frames.push(text('prototype-key', serialize(message)))
      }
    }
    // The type itself, nearly right.
    for (const variant of [type.toUpperCase(), ` ${type}`, `${type} `, `${type}\u0000`, `${type}\u200b`, type.replace(':', '：'), `${type}s`, type.slice(0, -1)]) {
      frames.push(json('field-wrong', { ...base, type: variant }))
    }
  }
  // A whole valid message in the wrong envelope.
  for (const base of Object.values(bases)) {
    frames.push(json('field-wrong', [base]), json('field-wrong', { message: base }), json('field-wrong', { type: base.type, payload: base.data }))
  }
  return frames
}

function nestedArrays(depth: number, inner = '0'): string {
  return '['.repeat(depth) + inner + ']'.repeat(depth)
}
function nestedObjects(depth: number, inner = '0'): string {
  return '{"a":'.repeat(depth) + inner + '}'.repeat(depth)
}

/** Deep nesting at each place a value can go; the depths stay under MAX_PAYLOAD. */
function deepFrame(depth: number, objects: boolean, place: number): Frame {
  const nested = objects ? nestedObjects(Math.min(depth, 3000)) : nestedArrays(depth)
  const payloads = [
    nested,
    `{"type":"ping","data":${nested}}`,
    `{"type":${nested},"data":{}}`,
    `{"type":"typing:start","data":{"channel_id":${nested}}}`,
    `{"type":"presence:update","data":{"presence":"online","x":${nested}}}`,
    `{"type":"ping","data":{}, "x":${nested}}`,
    // Unclosed: broken JSON at depth.
    '['.repeat(depth),
  ]
  return text('deep-nesting', payloads[place % payloads.length]!)
}

function byteLength(frame: Frame): number {
  return typeof frame.payload === 'string' ? Buffer.byteLength(frame.payload, 'utf8') : frame.payload.length
}

function frameArbitrary(oracle: Oracle, tokens: { good: string[]; bad: string[] }, bases: Record<string, Record<string, unknown>>): fc.Arbitrary<Frame> {
  const typeArb = fc.constantFrom(...Object.keys(clientMessages))
  const channelArb = fc.oneof(
    fc.constant(oracle.channelId),
    fc.constant(oracle.channelId.toUpperCase()),
    hex24,
    hex24.map((id) => id.toUpperCase()),
  )
  const validMessage = fc.oneof(
    fc.constantFrom<Record<string, unknown>>({ type: 'ping' }, { type: 'ping', data: {} }, { data: {}, type: 'ping' }),
    presenceArb.map((presence) => ({ type: 'presence:update', data: { presence } })),
    fc.tuple(fc.constantFrom('typing:start', 'typing:stop'), channelArb).map(([type, channel_id]) => ({ type, data: { channel_id } })),
    fc.oneof(fc.constantFrom(...tokens.good), fc.constantFrom(...tokens.bad), fc.string({ minLength: 1 })).map((token) => ({
      type: 'auth:refresh',
      data: { token },
    })),
  )
  const valid = fc
    .tuple(validMessage, fc.constantFrom<string | number | undefined>(undefined, 0, 2, '\t'), fc.constantFrom('', ' ', '\n', '\r\n\t '))
    .map(([message, space, pad]) => text('valid', pad + JSON.stringify(message, null, space) + pad))

  const wrongValue = fc.oneof(
    fc.constant(MISSING),
    fc.constantFrom(...wrongValues()),
    fc.anything({ maxDepth: 3 }),
    wildString,
    hugeNumber.map(raw),
  )
  const mutated = fc
    .tuple(typeArb, fc.nat(), wrongValue, fc.constantFrom('root', 'data', 'none'), fc.oneof(wildString, fc.constantFrom('__proto__', 'constructor', 'prototype')), fc.anything({ maxDepth: 2 }))
    .map(([type, pick, wrong, extraAt, extraKey, extraValue]) => {
      const message = clone(bases[type]!)
      const data = message.data as Record<string, unknown>
      const paths: Array<[Record<string, unknown>, string]> = [[message, 'type'], [message, 'data'], ...Object.keys(data).map((k): [Record<string, unknown>, string] => [data, k])]
      const [parent, key] = paths[pick % paths.length]!
      if (wrong === MISSING) delete parent[key]
      else setOwn(parent, key, wrong)
      if (extraAt === 'root') setOwn(message, extraKey, extraValue)
      if (extraAt === 'data' && typeof message.data === 'object' && message.data !== null) setOwn(message.data as Record<string, unknown>, extraKey, extraValue)
      return text('mutated', serialize(message))
    })

  const anyValidText = valid.map((frame) => frame.payload as string)
  const brokenJson = fc.oneof(
    fc.tuple(anyValidText, fc.nat()).map(([s, at]) => text('broken-json', s.slice(0, at % Math.max(1, s.length)))),
    fc.tuple(anyValidText, fc.nat(), wildString).map(([s, at, insert]) => text('broken-json', s.slice(0, at % (s.length + 1)) + insert + s.slice(at % (s.length + 1)))),
    fc.tuple(anyValidText, fc.nat(), fc.integer({ min: 1, max: 5 })).map(([s, at, n]) => text('broken-json', s.slice(0, at % (s.length + 1)) + s.slice((at % (s.length + 1)) + n))),
    wildString.map((s) => text('broken-json', s)),
    fc.constantFrom(
      '', ' ', 'null', 'true', 'false', '0', '"ping"', '[]', '{}', '{"type":null}', 'undefined', "{'type':'ping'}", '{"type":"ping",}',
      '{type:"ping"}', '\ufeff{"type":"ping"}', '{"type":"ping"}\u0000', '{"type":"ping"} {"type":"ping"}', '{"type":"ping"}garbage',
      '{"type":"ping"', '{"type":"ping","data":{}}}', '{"type":"pi\u0000ng"}', '{"type":"ping\\u0000"}', '{"type":"\\ud800"}',
      '{"type":"ping","type":"ping"}', '{"type":"ping","data":{},"data":{}}', '{"type":"ping","data":{"x":1},"data":{}}', '\u0000', '\n',
    ).map((s) => text('broken-json', s)),
  )
  const randomJson = fc.oneof(
    fc.jsonValue().map((value) => json('random-json', value)),
    fc.anything().map((value) => json('random-json', value)),
    fc.tuple(typeArb, fc.jsonValue()).map(([type, data]) => json('random-json', { type, data })),
    fc.tuple(wildString, fc.dictionary(wildString, fc.jsonValue({ maxDepth: 2 }))).map(([type, data]) => json('random-json', { type, data })),
  )
  const huge = fc
    .tuple(hugeNumber, fc.nat())
    .map(([n, place]) => {
      const payloads = [
        n,
        `{"type":"ping","data":{"n":${n}}}`,
        `{"type":${n}}`,
        `{"type":"presence:update","data":{"presence":${n}}}`,
        `{"type":"typing:start","data":{"channel_id":${n}}}`,
        `{"type":"auth:refresh","data":{"token":${n}}}`,
        `{"type":"ping","data":{},"n":${n}}`,
        `[${n}]`,
      ]
      return text('huge-number', payloads[place % payloads.length]!)
    })
  const deep = fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.boolean(), fc.nat()).map(([depth, objects, place]) => deepFrame(depth, objects, place))
  const unicodeValue = fc.oneof(edgeChar, wildString, fc.tuple(fc.constantFrom(...CHOSEN, ...Object.keys(clientMessages), oracle.channelId), edgeChar, fc.nat()).map(([s, c, at]) => s.slice(0, at % (s.length + 1)) + c + s.slice(at % (s.length + 1))))
  const unicode = fc.tuple(typeArb, unicodeValue, fc.nat(), fc.boolean()).map(([type, value, place, escaped]) => {
    const message = clone(bases[type]!)
    const data = message.data as Record<string, unknown>
    const keys = Object.keys(data)
    if (place % 3 === 0 || keys.length === 0) message.type = value
    else if (place % 3 === 1) setOwn(data, keys[place % keys.length]!, value)
    else setOwn(data, value, true)
    // Escaped (\ud800 in the JSON text) or raw (the character itself; a lone surrogate travels as U+FFFD).
    const body = escaped ? JSON.stringify(message) : JSON.stringify(message).replace(/\\u([0-9a-f]{4})/g, (m, hex: string) => {
      const code = parseInt(hex, 16)
      return code < 0x20 ? m : String.fromCharCode(code)
    })
    return text('unicode', body)
  })
  const binary = fc.oneof(
    fc.uint8Array({ maxLength: 4096 }).map((bytes): Frame => ({ kind: 'binary', payload: bytes, binary: true })),
    anyValidText.map((s): Frame => ({ kind: 'binary', payload: new Uint8Array(Buffer.from(s)), binary: true })),
  )
  const prototypeKey = fc
    .tuple(typeArb, fc.constantFrom('__proto__', 'constructor', 'prototype', '__defineGetter__', 'hasOwnProperty'), fc.boolean(), fc.jsonValue({ maxDepth: 2 }))
    .map(([type, key, inData, value]) => {
      const message = clone(bases[type]!)
      setOwn(inData ? (message.data as Record<string, unknown>) : message, key, { polluted: value })
      return text('prototype-key', serialize(message))
    })

  return fc
    .oneof(
      { arbitrary: valid, weight: 6 },
      { arbitrary: mutated, weight: 6 },
      { arbitrary: brokenJson, weight: 3 },
      { arbitrary: randomJson, weight: 3 },
      { arbitrary: huge, weight: 1 },
      { arbitrary: deep, weight: 1 },
      { arbitrary: unicode, weight: 3 },
      { arbitrary: binary, weight: 1 },
      { arbitrary: prototypeKey, weight: 1 },
    )
    .filter((frame) => byteLength(frame) <= MAX_PAYLOAD)
}

// ---------------------------------------------------------------------------
// The service

interface Setup {
  built: BuiltApp
  db: Db
  userId: string
  channelId: string
}

async function setup(t: Test, label: string): Promise<Setup> {
  const { name, db } = await testDatabase(t, label)
  const userId = objectId()
  const channelId = objectId()
  await db.collection('channel_members').createIndex({ channel_id: 1, user_id: 1 }, { unique: true })
  await db.collection('channel_members').insertOne({ channel_id: new ObjectId(channelId), user_id: new ObjectId(userId), role: 'member' })
  await db.collection('users').insertOne({ _id: new ObjectId(userId), username: 'fuzzer', presence: 'offline' })
  const built = await build(t, { database: { url: mongoUrl(), name }, realtime: UNLIMITED })
  return { built, db, userId, channelId }
}

function send(client: TestClient, frame: Frame): void {
  if (frame.binary) client.socket.send(frame.payload, { binary: true })
  else client.socket.send(frame.payload as string)
}

/**
 * Sends one frame and returns every message it caused on this connection,
 * proved complete by a ping round trip behind it.
 */
async function exchange(client: TestClient, frame: Frame, answer: Answer): Promise<ServerMessage[]> {
  send(client, frame)
  const before = await client.sync()
  if (answer.kind !== 'pong') return before
  // The frame's own pong ended sync(); the round trip's pong must come next, with nothing between.
  const next = await client.next()
  if (next.type !== 'pong') return [...before, { type: 'pong', data: {} }, next]
  return [...before, { type: 'pong', data: {} }]
}

const samePrototype = () => Object.getOwnPropertyNames(Object.prototype).sort().join(',')

t.test('fuzzed frames: each gets its normal answer or one error, and no one else hears a byte of it', async (t) => {
  const started = Date.now()
  const prototypeBefore = samePrototype()
  const { built, db, userId, channelId } = await setup(t, 'fuzz')
  const observerId = objectId()

  const goodToken = signToken({ sub: userId })
  const goodTokens = [goodToken, signToken({ sub: userId.toUpperCase() }), signToken({ sub: userId, email: 'other@example.test' })]
  const badTokens = [
    signToken({ sub: objectId() }),
    signToken({ sub: userId, exp: Math.floor(Date.now() / 1000) - 10 }),
    signToken({ sub: userId, token_type: 'refresh' }),
    signToken({ sub: userId, iss: 'someone-else' }),
    signToken({ sub: userId }, 'not-the-secret-at-all-not-the-secret'),
    forgeToken({ alg: 'none', typ: 'JWT' }, { sub: userId, iss: 'roomler2', token_type: 'access', exp: 9_999_999_999 }),
    goodToken.slice(0, -2),
    `${goodToken}.`,
  ]
  const oracle: Oracle = { userId, channelId, goodTokens: new Set(goodTokens) }

  const fuzzer = await built.connect(userId)
  const sibling = await built.connect(userId)
  const observer = await built.connect(observerId)
  for (const client of [fuzzer, sibling, observer]) await client.sync()

  // What the user's other connection and the observer may receive, and have not been checked yet.
  let presence: ChosenPresence = 'online'
  let siblingExpects: ServerMessage[] = []
  let observerExpects: ServerMessage[] = []

  const counts = {
    frames: 0,
    valid: 0,
    invalid: 0,
    text: 0,
    binary: 0,
    bytes: 0,
    largestFrame: 0,
    checkpoints: 0,
    byKind: {} as Record<string, number>,
    answers: {} as Record<string, number>,
    errors: {} as Record<string, number>,
  }
  const bump = (table: Record<string, number>, key: string) => (table[key] = (table[key] ?? 0) + 1)

  async function checkpoint(): Promise<void> {
    const siblingGot = await sibling.sync()
    const observerGot = await observer.sync()
    counts.checkpoints++
    if (JSON.stringify(siblingGot) !== JSON.stringify(siblingExpects)) {
      throw new Error(`the user's other connection got ${JSON.stringify(siblingGot).slice(0, 600)}, expected ${JSON.stringify(siblingExpects).slice(0, 600)}`)
    }
    if (JSON.stringify(observerGot) !== JSON.stringify(observerExpects)) {
      throw new Error(`the observer got ${JSON.stringify(observerGot).slice(0, 600)}, expected ${JSON.stringify(observerExpects).slice(0, 600)}`)
    }
    siblingExpects = []
    observerExpects = []
  }

  async function fuzzOne(frame: Frame): Promise<void> {
    const expected = expectationOf(oracle, frame)
    const got = await exchange(fuzzer, frame, expected.answer)
    checkAnswer(userId, frame, expected, got)
    counts.frames++
    counts[expected.valid ? 'valid' : 'invalid']++
    counts[frame.binary ? 'binary' : 'text']++
    const size = byteLength(frame)
    counts.bytes += size
    counts.largestFrame = Math.max(counts.largestFrame, size)
    bump(counts.byKind, frame.kind)
    bump(counts.answers, expected.answer.kind === 'error' ? `error:${expected.answer.code}` : expected.answer.kind)
    if (expected.answer.kind === 'error') bump(counts.errors, expected.answer.code)
    if (expected.answer.kind === 'presence') {
      const chosen = expected.answer.presence
      const before: Presence = visiblePresence(presence)
      presence = chosen
      siblingExpects.push({ type: 'presence:update', data: { user_id: userId, presence: chosen } })
      if (visiblePresence(chosen) !== before) {
        observerExpects.push({ type: 'presence:update', data: { user_id: userId, presence: visiblePresence(chosen) } })
      }
    }
    if (counts.frames % CHECKPOINT_EVERY === 0) await checkpoint()
  }

  const bases = validMessages(oracle, goodToken)

  // 1. Systematic: every field of every message wrong in turn, prototype keys everywhere, deep nesting at the limits.
  const systematic = [
    ...systematicFrames(bases),
    ...[1, 100, 1000, 4999, 5000, 8000].flatMap((depth) => [0, 1, 2, 3, 4, 5, 6].map((place) => deepFrame(depth, false, place))),
    ...[1, 1000, 3000].flatMap((depth) => [0, 1, 2, 3, 4, 5].map((place) => deepFrame(depth, true, place))),
    text('field-wrong', serialize({ type: 'presence:update', data: { presence: 'offline' } })),
  ].filter((frame) => byteLength(frame) <= MAX_PAYLOAD)
  for (const frame of systematic) await fuzzOne(frame)
  await checkpoint()
  const systematicCount = counts.frames
  t.pass(`${systematicCount} systematic frames answered as the contract says`)

  // 2. Random: fast-check, valid messages mixed in.
  const details = await fc.check(
    fc.asyncProperty(frameArbitrary(oracle, { good: goodTokens, bad: badTokens }, bases), async (frame) => {
      await fuzzOne(frame)
    }),
    { numRuns: RANDOM_FRAMES, seed: SEED, endOnFailure: true },
  )
  if (details.failed) {
    // The connection's stream is out of step after a failure: report it alone, not what follows from it.
    const report = fc.defaultReportMessage(details) ?? 'no report'
    t.fail(`fuzzing failed (seed ${SEED}): ${report}`)
    recordFigures('fuzz', {
      tried: `${counts.frames} frames before a failure (seed ${SEED})`,
      held: `NOT HELD: ${report.slice(0, 500)}`,
      figures: { frames_fuzzed: counts.frames, seed: SEED, duration_ms: Date.now() - started },
    })
    return
  }
  t.pass(`${counts.frames - systematicCount} random frames answered as the contract says (seed ${SEED})`)
  await checkpoint()

  t.equal(fuzzer.closeCode, undefined, 'the fuzzed connection is still open')
  t.ok(counts.frames >= 5000 || RANDOM_FRAMES < 5000, `at least 5000 frames fuzzed (${counts.frames})`)
  t.ok(counts.valid > 500 && counts.invalid > 2000, `valid messages mixed in (${counts.valid} valid, ${counts.invalid} invalid)`)

  // The service's own counts agree with what the client saw.
  const metrics = built.app.realtimeMetrics
  t.same({ ...metrics.errors.values }, counts.errors, '/metrics counts the same errors by code')
  t.equal(metrics.messagesIn.get('invalid'), counts.invalid, '/metrics counts every invalid frame')

  // Nothing in this process was polluted, and the service still serves.
  t.equal(samePrototype(), prototypeBefore, 'Object.prototype gained no property')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no object inherits a polluted key')
  const health = await fetch(`${built.url}/health`)
  t.equal(health.status, 200, '/health still answers 200')
  const lateId = objectId()
  const late = await built.connect(lateId)
  t.same(await late.sync(), [], 'a new connection is served')
  t.same(
    await observer.sync(),
    [{ type: 'presence:update', data: { user_id: lateId, presence: 'online' } }],
    'the observer hears the newcomer come online, and nothing else',
  )

  const errorLines = built.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50)
  t.same(errorLines.map((line) => line.slice(0, 300)), [], 'nothing was logged at error level')

  // The last valid presence reached the database.
  await eventually(
    async () => {
      const doc = await db.collection('users').findOne({ _id: new ObjectId(userId) })
      return doc?.presence === presence && doc?.chosen_presence === presence
    },
    10_000,
    `users.presence = ${presence}`,
  )
  t.pass(`the last chosen presence (${presence}) is in the database`)

  recordFigures('fuzz', {
    tried: `${counts.frames} frames (${systematicCount} systematic: every field of every client message wrong in turn, prototype keys, nesting to 8000 levels; ${counts.frames - systematicCount} random with fast-check) on one connection of a service on FerretDB, each followed by a ping round trip`,
    held: t.passing()
      ? 'every frame got exactly its normal answer or one error and the connection stayed open; the user’s other connection heard only the presence it chose; an observer heard only visible presence changes; /metrics agreed; no prototype was polluted; nothing was logged at error level'
      : 'NOT ALL HELD: see the test output of this run',
    figures: {
      frames_fuzzed: counts.frames,
      systematic_frames: systematicCount,
      random_frames: counts.frames - systematicCount,
      valid_frames: counts.valid,
      invalid_frames: counts.invalid,
      text_frames: counts.text,
      binary_frames: counts.binary,
      bytes_sent: counts.bytes,
      largest_frame_bytes: counts.largestFrame,
      observer_checkpoints: counts.checkpoints,
      ...Object.fromEntries(Object.entries(counts.byKind).map(([kind, n]) => [`frames_${kind}`, n])),
      ...Object.fromEntries(Object.entries(counts.answers).map(([answer, n]) => [`answer_${answer}`, n])),
      connections_closed: fuzzer.closeCode === undefined ? 0 : 1,
      log_lines: built.logs.length,
      error_log_lines: errorLines.length,
      seed: SEED,
      duration_ms: Date.now() - started,
    },
  })
})

t.test('frames over MAX_PAYLOAD_BYTES close with 1009; everyone else keeps being served', async (t) => {
  const started = Date.now()
  const { built, userId } = await setup(t, 'fuzz_payload')
  const bystander = await built.connect(objectId())
  await bystander.sync()
  const closes: Record<string, number> = {}
  let oversized = 0

  // At the limit: answered (an error, since the padding is not a field), not closed.
  const client = await built.connect(userId)
  await bystander.sync()
  const padding = MAX_PAYLOAD - JSON.stringify({ type: 'ping', data: { p: '' } }).length
  const atLimit = JSON.stringify({ type: 'ping', data: { p: 'x'.repeat(padding) } })
  t.equal(Buffer.byteLength(atLimit), MAX_PAYLOAD, 'a frame of exactly MAX_PAYLOAD_BYTES')
  client.send(atLimit)
  const [answer, ...rest] = await client.sync()
  t.equal(answer?.data.code, 'invalid_message', 'is read and answered')
  t.same(rest, [], 'with one error')
  await client.close()

  const cases = fc.sample(
    fc.record({
      size: fc.oneof(fc.constant(MAX_PAYLOAD + 1), fc.integer({ min: MAX_PAYLOAD + 1, max: 4 * MAX_PAYLOAD }), fc.integer({ min: 4 * MAX_PAYLOAD, max: 1 << 20 })),
      binary: fc.boolean(),
      fragments: fc.integer({ min: 1, max: 8 }),
    }),
    { numRuns: 16, seed: SEED },
  )
  for (const { size, binary, fragments } of cases) {
    const big = await built.connect(userId)
    const body = Buffer.alloc(size, 'a')
    if (fragments === 1) big.socket.send(binary ? body : body.toString(), { binary })
    else {
      // Each fragment under the limit, the message over it.
      const step = Math.ceil(size / fragments)
      for (let at = 0; at < size; at += step) big.socket.send(body.subarray(at, at + step), { binary, fin: at + step >= size })
    }
    const { code } = await big.closed
    closes[String(code)] = (closes[String(code)] ?? 0) + 1
    oversized++
    t.equal(code, 1009, `${size} bytes (${binary ? 'binary' : 'text'}, ${fragments} fragment${fragments > 1 ? 's' : ''}) closes with 1009`)
    // The bystander is served, and hears nothing but the user's presence.
    const heard = await bystander.sync()
    t.ok(heard.every((m) => m.type === 'presence:update' && m.data.user_id === userId), 'the bystander is served and hears only presence')
  }

  // Invalid UTF-8 in a text frame is a WebSocket protocol error (RFC 6455 §8.1): 1007, never a crash.
  const utf8 = await built.connect(userId)
  utf8.socket.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false })
  const { code: utf8Code } = await utf8.closed
  closes[String(utf8Code)] = (closes[String(utf8Code)] ?? 0) + 1
  t.equal(utf8Code, 1007, 'a text frame that is not UTF-8 closes with 1007')

  await bystander.sync()
  t.equal(bystander.closeCode, undefined, 'the bystander is still connected')
  await eventually(() => built.app.wsRegistry.senders(userId).size === 0, undefined, 'closed connections leave the registry')
  t.equal(built.app.realtimeMetrics.closes.get('payload_too_big'), oversized, '/metrics counts each as payload_too_big')
  t.equal((await fetch(`${built.url}/health`)).status, 200, 'the service still answers /health')

  recordFigures('fuzz-payload', {
    tried: `${oversized} frames over MAX_PAYLOAD_BYTES (${MAX_PAYLOAD}), text and binary, whole and fragmented, up to 1 MiB; one frame at the limit; one text frame that is not UTF-8`,
    held: t.passing()
      ? 'each oversized frame closed its connection with 1009 and was counted as payload_too_big; the frame at the limit was answered; a bystander was served throughout'
      : 'NOT ALL HELD: see the test output of this run',
    figures: {
      oversized_frames: oversized,
      largest_frame_bytes: Math.max(...cases.map((c) => c.size)),
      // @fastify/websocket's default handler logs each of these client errors at level error.
      error_log_lines: built.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50).length,
      ...Object.fromEntries(Object.entries(closes).map(([code, n]) => [`closes_${code}`, n])),
      duration_ms: Date.now() - started,
    },
  })
})
