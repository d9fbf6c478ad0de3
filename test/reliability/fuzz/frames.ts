/**
 * The fuzzer's frames (test/reliability/fuzz.test.ts): what a frame is, the
 * valid message of each type to mutate from, the systematic pass (every field
 * of every client message wrong in turn, prototype keys, deep nesting) and
 * the fast-check generators of random ones. Which of them are valid is the
 * oracle's business (./oracle.ts), decided from the contract's schemas.
 */
import fc from 'fast-check'
import { clientMessages } from '../../../schemas/client-messages.js'
import type { ChosenPresence } from '../../../schemas/common.js'

/** The service's default MAX_PAYLOAD_BYTES (contract section 6). */
export const MAX_PAYLOAD = 16384
/** Rerun one sequence with FUZZ_SEED=<seed> (the seed is in the figures). */
export const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
export const CHOSEN: ChosenPresence[] = ['online', 'idle', 'dnd', 'invisible']

export type Kind =
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

export interface Frame {
  kind: Kind
  /** A text frame (sent as UTF-8) or the bytes of a binary frame. */
  payload: string | Uint8Array
  binary: boolean
}

export const text = (kind: Kind, payload: string): Frame => ({ kind, payload, binary: false })
export const json = (kind: Kind, value: unknown): Frame => text(kind, JSON.stringify(value) ?? 'undefined')

export interface Oracle {
  userId: string
  channelId: string
  /** auth:refresh tokens that must be accepted (same sub, valid). */
  goodTokens: ReadonlySet<string>
}


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
export function validMessages(oracle: Oracle, goodToken: string): Record<string, Record<string, unknown>> {
  return {
    ping: { type: 'ping', data: {} },
    'typing:start': { type: 'typing:start', data: { channel_id: oracle.channelId } },
    'typing:stop': { type: 'typing:stop', data: { channel_id: oracle.channelId } },
    'presence:update': { type: 'presence:update', data: { presence: 'idle' } },
    'presence:subscribe': { type: 'presence:subscribe', data: { user_ids: [oracle.channelId] } },
    'presence:unsubscribe': { type: 'presence:unsubscribe', data: { user_ids: [oracle.channelId] } },
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
export function serialize(value: unknown, space?: string | number): string {
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
export function systematicFrames(bases: Record<string, Record<string, unknown>>): Frame[] {
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
export function deepFrame(depth: number, objects: boolean, place: number): Frame {
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

export function byteLength(frame: Frame): number {
  return typeof frame.payload === 'string' ? Buffer.byteLength(frame.payload, 'utf8') : frame.payload.length
}

export function frameArbitrary(oracle: Oracle, tokens: { good: string[]; bad: string[] }, bases: Record<string, Record<string, unknown>>): fc.Arbitrary<Frame> {
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
