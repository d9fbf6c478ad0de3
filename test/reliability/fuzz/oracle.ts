/**
 * The fuzzer's oracle (test/reliability/fuzz.test.ts): the answer the
 * contract gives each frame, decided by the TypeBox schemas of the contract
 * (schemas/client-messages.ts), not by the service's own code path, and the
 * check of what the sender really received.
 */
import { Value } from '@sinclair/typebox/value'
import { clientMessages } from '../../../schemas/client-messages.js'
import { serverMessages } from '../../../schemas/server-messages.js'
import type { ChosenPresence } from '../../../schemas/common.js'
import type { ServerMessage } from '../../helper.js'
import type { Frame, Oracle } from './frames.js'

export type Answer =
  | { kind: 'pong' }
  | { kind: 'presence'; presence: ChosenPresence }
  | { kind: 'nothing' }
  /** presence:state naming exactly these users (their presence is the service's to know; the schema checks its values). */
  | { kind: 'state'; userIds: string[] }
  | { kind: 'error'; code: string; requestType?: string }

export interface Expectation {
  valid: boolean
  answer: Answer
}

/** What the service echoes as `request_type` for an unknown type (lib/protocol/frame.ts shortens long ones). */
function echoType(type: string): string {
  return type.length > 64 ? `${type.slice(0, 64)}…` : type
}

/** The contract's answer to one frame, decided from the schemas. */
export function expectationOf(oracle: Oracle, frame: Frame): Expectation {
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
    case 'presence:subscribe': {
      const named = (parsed as { data: { user_ids: string[] } }).data.user_ids.map((id) => id.toLowerCase())
      return { valid: true, answer: { kind: 'state', userIds: [...new Set(named)].sort() } }
    }
    case 'presence:unsubscribe':
      return { valid: true, answer: { kind: 'nothing' } }
    case 'auth:refresh':
      return oracle.goodTokens.has(data.token!)
        ? { valid: true, answer: { kind: 'nothing' } }
        : { valid: true, answer: { kind: 'error', code: 'unauthorized', requestType: type } }
  }
  throw new Error(`no answer known for ${type}`)
}

/** Checks what the sender received for one frame against the contract; throws with the reason. */
export function checkAnswer(userId: string, frame: Frame, expected: Expectation, got: ServerMessage[]): void {
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
    case 'state': {
      if (got.length !== 1 || got[0]!.type !== 'presence:state') fail('expected exactly one presence:state')
      const named = Object.keys(got[0]!.data.presences as Record<string, string>).sort()
      if (JSON.stringify(named) !== JSON.stringify(answer.userIds)) fail('expected the presence of exactly the users it named')
      return
    }
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
