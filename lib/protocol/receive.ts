import type { FastifyBaseLogger } from 'fastify'
import type { ClientMessage, ClientMessageOf, ClientMessageType } from '../../schemas/client-messages.js'
import { CloseCode } from '../connections/close-codes.js'
import { MAX_DROPS_IN_A_ROW, type Connection } from '../connections/connection.js'
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
    connection.expiresAt = claims.exp * 1000
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
  if (connection.takeToken(Date.now())) {
    connection.dropsInARow = 0
    return true
  }
  ctx.metrics.messagesIn.add('rate_limited')
  reply(ctx, connection, RATE_LIMITED)
  if (++connection.dropsInARow >= MAX_DROPS_IN_A_ROW) {
    connection.close(CloseCode.POLICY_VIOLATION, 'rate limit exceeded', 'rate_limited')
  }
  return false
}

/**
 * Takes every frame of a connection, in order: a frame that arrives while an
 * earlier one still waits on the database waits behind it, so answers keep
 * the order of the questions.
 */
export function receive(ctx: ProtocolContext, connection: Connection, data: Buffer, isBinary: boolean): void {
  if (connection.closed || !admitByRate(ctx, connection)) return
  if (connection.backlog) {
    connection.backlog.push({ data, isBinary })
    return
  }
  const pending = handle(ctx, connection, data, isBinary)
  if (pending) {
    connection.backlog = []
    void pending.then(() => drain(ctx, connection))
  }
}

/** Handles queued frames until one has to wait again, or none is left. */
export function drain(ctx: ProtocolContext, connection: Connection): void {
  const backlog = connection.backlog
  if (!backlog) return
  while (backlog.length > 0) {
    if (connection.closed) {
      backlog.length = 0
      break
    }
    const frame = backlog.shift()!
    const pending = handle(ctx, connection, frame.data, frame.isBinary)
    if (pending) {
      void pending.then(() => drain(ctx, connection))
      return
    }
  }
  connection.backlog = null
}
