import type { FastifyBaseLogger } from 'fastify'
import type { ClientMessage, ClientMessageOf, ClientMessageType } from '../../schemas/client-messages.js'
import type { Connection } from '../connections/connection.js'
import type { Metrics } from '../support/metrics.js'
import { ProtocolError } from './errors.js'
import { parseFrame } from './frame.js'
import type { PresenceService } from '../presence/presence.js'
import { TokenRejected, type VerifyAccessToken } from '../support/tokens.js'
import { NotAMemberError, type TypingService } from '../typing/typing.js'

export interface ProtocolContext {
  presence: PresenceService
  typing: TypingService
  verifyToken: VerifyAccessToken
  metrics: Metrics
  log: FastifyBaseLogger
}

type Handler<T extends ClientMessageType> = (
  ctx: ProtocolContext,
  connection: Connection,
  message: ClientMessageOf<T>,
) => void | Promise<void>

const PONG = JSON.stringify({ type: 'pong', data: {} })

/** One handler per client message type; the frame reaching it is already valid. */
const handlers: { [T in ClientMessageType]: Handler<T> } = {
  ping(ctx, connection) {
    if (connection.sendRaw(PONG)) ctx.metrics.messagesOut.add('pong')
  },
  'typing:start'(ctx, connection, message) {
    return ctx.typing.start(connection, message.data.channel_id.toLowerCase())
  },
  'typing:stop'(ctx, connection, message) {
    return ctx.typing.stop(connection, message.data.channel_id.toLowerCase())
  },
  'presence:update'(ctx, connection, message) {
    return ctx.presence.choose(connection.userId, message.data.presence)
  },
  'auth:refresh'(ctx, connection, message) {
    let claims
    try {
      claims = ctx.verifyToken(message.data.token)
    } catch (error) {
      if (error instanceof TokenRejected) throw new ProtocolError('unauthorized', error.message, 'auth:refresh')
      throw error
    }
    if (claims.sub !== connection.userId) {
      throw new ProtocolError('unauthorized', 'the token is for another user', 'auth:refresh')
    }
    connection.extendUntil(claims.exp * 1000)
  },
}

/** Maps a failure of a handler to the `error` the client receives. */
function toProtocolError(ctx: ProtocolContext, error: unknown, requestType: string): ProtocolError {
  if (error instanceof ProtocolError) return error
  if (error instanceof NotAMemberError) {
    return new ProtocolError('forbidden', `you are not a member of channel ${error.channelId}`, requestType)
  }
  ctx.log.warn({ err: error, requestType }, 'a dependency failed while handling a message')
  return new ProtocolError('unavailable', 'the service could not complete this request; try again', requestType)
}

function reply(ctx: ProtocolContext, connection: Connection, error: ProtocolError): void {
  ctx.metrics.errors.add(error.code)
  if (connection.send(error.toMessage())) ctx.metrics.messagesOut.add('error')
}

function handle(ctx: ProtocolContext, connection: Connection, data: Buffer, isBinary: boolean): Promise<void> | undefined {
  let message: ClientMessage
  try {
    message = parseFrame(data, isBinary)
  } catch (error) {
    ctx.metrics.messagesIn.add('invalid')
    reply(ctx, connection, toProtocolError(ctx, error, ''))
    return undefined
  }
  ctx.metrics.messagesIn.add(message.type)
  try {
    const result = (handlers[message.type] as Handler<ClientMessageType>)(ctx, connection, message)
    if (result) return result.catch((error: unknown) => reply(ctx, connection, toProtocolError(ctx, error, message.type)))
  } catch (error) {
    reply(ctx, connection, toProtocolError(ctx, error, message.type))
  }
  return undefined
}

const RATE_LIMITED = new ProtocolError('rate_limited', 'too many messages; this one was dropped')

/** Over the rate: the message is dropped with `rate_limited`; a long run of drops closes the connection. */
function admitByRate(ctx: ProtocolContext, connection: Connection): boolean {
  const verdict = connection.rate(Date.now())
  if (verdict === 'admitted') return true
  ctx.metrics.messagesIn.add('rate_limited')
  reply(ctx, connection, RATE_LIMITED)
  if (verdict === 'exceeded') connection.close('POLICY_VIOLATION')
  return false
}

/**
 * Takes every frame of a connection, in order: a frame that arrives while an
 * earlier one still waits on the database waits behind it, so answers keep
 * the order of the questions.
 */
export function receive(ctx: ProtocolContext, connection: Connection, data: Buffer, isBinary: boolean): void {
  if (connection.closed || !admitByRate(ctx, connection)) return
  if (connection.holding) {
    connection.hold({ data, isBinary })
    return
  }
  const pending = handle(ctx, connection, data, isBinary)
  if (pending) {
    connection.startHolding()
    void pending.then(() => drain(ctx, connection))
  }
}

/** Handles held frames until one has to wait again, or none is left. */
export function drain(ctx: ProtocolContext, connection: Connection): void {
  for (let frame = connection.nextHeld(); frame !== undefined; frame = connection.nextHeld()) {
    const pending = handle(ctx, connection, frame.data, frame.isBinary)
    if (pending) {
      void pending.then(() => drain(ctx, connection))
      return
    }
  }
}
