import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { TObject, TSchema } from '@sinclair/typebox'
import { clientMessages, type ClientMessage, type ClientMessageType } from '../../schemas/client-messages.js'
import { ProtocolError } from './errors.js'

/** One compiled validator per client message type, built once at start-up. */
const validators = new Map<string, TypeCheck<TObject>>(
  Object.entries(clientMessages).map(([type, schema]) => [type, TypeCompiler.Compile(schema as TObject)]),
)

const MAX_ECHOED_TYPE = 64

function echoType(type: string): string {
  return type.length > MAX_ECHOED_TYPE ? `${type.slice(0, MAX_ECHOED_TYPE)}…` : type
}

/** A reason a person can act on: the allowed values of an enum, the `errorMessage` a schema names. */
function reasonFor(schema: TSchema, fallback: string): string {
  if (typeof schema.errorMessage === 'string') return schema.errorMessage
  const options = (schema as { anyOf?: TSchema[] }).anyOf
  if (options?.every((option) => 'const' in option)) {
    return `expected one of ${options.map((option) => JSON.stringify(option.const)).join(', ')}`
  }
  return fallback
}

/**
 * Turns one received frame into a valid client message, or throws the
 * ProtocolError to answer with. The JSON is parsed once.
 */
export function parseFrame(data: Buffer, isBinary: boolean): ClientMessage {
  if (isBinary) throw new ProtocolError('invalid_json', 'binary frames are not accepted; send JSON text')
  let parsed: unknown
  try {
    parsed = JSON.parse(data.toString('utf8'))
  } catch {
    throw new ProtocolError('invalid_json', 'the frame is not valid JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ProtocolError('invalid_message', 'a message is a JSON object { type, data }', undefined, {
      field: '',
      reason: 'expected an object',
    })
  }
  const type = (parsed as { type?: unknown }).type
  if (typeof type !== 'string') {
    throw new ProtocolError('invalid_message', 'a message needs a string `type`', undefined, {
      field: '/type',
      reason: type === undefined ? 'missing' : 'expected a string',
    })
  }
  const validator = validators.get(type)
  if (!validator) throw new ProtocolError('unknown_type', `${JSON.stringify(echoType(type))} is not a type a client may send`, echoType(type))
  if (!validator.Check(parsed)) {
    const error = validator.Errors(parsed).First()!
    const reason = reasonFor(error.schema, error.message)
    throw new ProtocolError('invalid_message', `${type}: ${error.path || 'message'}: ${reason}`, type, {
      field: error.path,
      reason,
    })
  }
  return parsed as ClientMessage
}

export type { ClientMessageType }
