import type { FastifyBaseLogger } from 'fastify'
import type { ClientMessageOf, ClientMessageType } from '../../schemas/client-messages.js'
import type { Connection } from '../connections/connection.js'
import type { Metrics } from '../support/metrics.js'
import { ProtocolError } from './errors.js'
import { parseFrame } from './frame.js'
import type { PresenceService } from '../presence/presence.js'
import type { PresenceSubscriptions } from '../presence/subscriptions.js'
import { TokenRejected, type VerifyAccessToken } from '../support/tokens.js'
import { NotAMemberError, TypingRateLimitedError, type TypingService } from '../typing/typing.js'
import type { TypingRate } from '../typing/typing-rate.js'
import { MembershipUnavailable } from '../membership/membership-cache.js'
import { MAX_UNHANDLED_FRAMES, type Lane, type LaneItem } from './lanes.js'

export interface ProtocolContext {
  presence: PresenceService
  subscriptions: PresenceSubscriptions
  typing: TypingService
  /** TYPING_RATE_PER_SEC, per user on this instance: the cheap first refusal (TypingService holds it across instances). */
  typingRate: TypingRate
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
  async 'presence:subscribe'(ctx, connection, message) {
    const state = await ctx.subscriptions.subscribe(connection, message.data.user_ids)
    if (connection.send(state)) ctx.metrics.messagesOut.add('presence:state')
  },
  'presence:unsubscribe'(ctx, connection, message) {
    ctx.subscriptions.unsubscribe(connection, message.data.user_ids)
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

const TYPING_RATE_LIMITED = {
  'typing:start': new ProtocolError('rate_limited', 'too much typing from this user; this one was dropped', 'typing:start'),
  'typing:stop': new ProtocolError('rate_limited', 'too much typing from this user; this one was dropped', 'typing:stop'),
}

/** Maps a failure of a handler to the `error` the client receives. */
function toProtocolError(ctx: ProtocolContext, error: unknown, requestType: string): ProtocolError {
  if (error instanceof ProtocolError) return error
  // Past the rate across instances (the shared typing state said so): the same answer as this instance's own bucket gives.
  if (error instanceof TypingRateLimitedError && (requestType === 'typing:start' || requestType === 'typing:stop')) {
    ctx.metrics.messagesIn.add('rate_limited')
    return TYPING_RATE_LIMITED[requestType]
  }
  if (error instanceof NotAMemberError) {
    return new ProtocolError('forbidden', `you are not a member of channel ${error.channelId}`, requestType)
  }
  // Known down: answered at once, and not logged per frame.
  if (error instanceof MembershipUnavailable) {
    return new ProtocolError('unavailable', 'channel membership cannot be read right now; try again', requestType)
  }
  ctx.log.warn({ err: error, requestType }, 'a dependency failed while handling a message')
  return new ProtocolError('unavailable', 'the service could not complete this request; try again', requestType)
}

function reply(ctx: ProtocolContext, connection: Connection, error: ProtocolError): void {
  ctx.metrics.errors.add(error.code)
  if (connection.send(error.toMessage())) ctx.metrics.messagesOut.add('error')
}

/** The frame as a valid message, or the refusal it gets (counted either way). */
function parse(ctx: ProtocolContext, data: Buffer, isBinary: boolean): LaneItem {
  try {
    const message = parseFrame(data, isBinary)
    ctx.metrics.messagesIn.add(message.type)
    return message
  } catch (error) {
    ctx.metrics.messagesIn.add('invalid')
    return toProtocolError(ctx, error, '')
  }
}

function handle(ctx: ProtocolContext, connection: Connection, item: LaneItem): Promise<void> | undefined {
  if (item instanceof ProtocolError) {
    reply(ctx, connection, item)
    return undefined
  }
  try {
    const result = (handlers[item.type] as Handler<ClientMessageType>)(ctx, connection, item)
    if (result) return result.catch((error: unknown) => reply(ctx, connection, toProtocolError(ctx, error, item.type)))
  } catch (error) {
    reply(ctx, connection, toProtocolError(ctx, error, item.type))
  }
  return undefined
}

const RATE_LIMITED = new ProtocolError('rate_limited', 'too many messages; this one was dropped')
const TOO_MANY_WAITING = new ProtocolError('rate_limited', 'too many messages waiting to be handled; this one was dropped')

/** Over the rate: the message is dropped with `rate_limited`; a long run of drops closes the connection. */
function admitByRate(ctx: ProtocolContext, connection: Connection): boolean {
  const verdict = connection.rate(Date.now())
  if (verdict === 'admitted') return true
  ctx.metrics.messagesIn.add('rate_limited')
  // Nothing can be sent before `connected`: the refusal is answered once it is out.
  if (connection.holding) connection.refuseWhileHeld()
  else reply(ctx, connection, RATE_LIMITED)
  if (verdict === 'exceeded') connection.close('POLICY_VIOLATION')
  return false
}

function isTyping(item: LaneItem): item is ClientMessageOf<'typing:start' | 'typing:stop'> {
  return !(item instanceof ProtocolError) && (item.type === 'typing:start' || item.type === 'typing:stop')
}

/**
 * Takes every frame of a connection. Until `connected` has gone out frames
 * are held; then each goes to its lane: typing frames in their order,
 * everything else in its own, so that a ping or an auth:refresh never waits
 * behind typing that waits on the database. A frame that has to wait joins
 * its lane's queue, bounded by MAX_UNHANDLED_FRAMES.
 */
export function receive(ctx: ProtocolContext, connection: Connection, data: Buffer, isBinary: boolean): void {
  if (connection.closed || !admitByRate(ctx, connection)) return
  if (connection.holding) {
    // Nothing can be sent before `connected`: past the bound the frame is dropped, and answered once it is out.
    if (connection.heldCount < MAX_UNHANDLED_FRAMES) connection.hold({ data, isBinary })
    else {
      ctx.metrics.messagesIn.add('rate_limited')
      connection.refuseWhileHeld()
    }
    return
  }
  route(ctx, connection, parse(ctx, data, isBinary))
}

function route(ctx: ProtocolContext, connection: Connection, item: LaneItem): void {
  const typing = isTyping(item)
  if (typing && !ctx.typingRate.admit(connection.userId)) {
    ctx.metrics.messagesIn.add('rate_limited')
    reply(ctx, connection, TYPING_RATE_LIMITED[item.type])
    return
  }
  const lanes = connection.lanes
  if (lanes !== null) {
    const lane = typing ? lanes.typing : lanes.control
    if (lane.busy) {
      if (lanes.waiting >= MAX_UNHANDLED_FRAMES) {
        ctx.metrics.messagesIn.add('rate_limited')
        reply(ctx, connection, TOO_MANY_WAITING)
      } else {
        lane.queue.push(item)
      }
      return
    }
  }
  const pending = handle(ctx, connection, item)
  if (pending === undefined) return
  const waiting = connection.waitingLanes()
  wait(ctx, connection, typing ? waiting.typing : waiting.control, pending)
}

/** The lane waits for `pending`, then handles its queue until one waits again, or none is left. */
function wait(ctx: ProtocolContext, connection: Connection, lane: Lane, pending: Promise<void>): void {
  lane.busy = true
  void pending.then(() => {
    lane.busy = false
    for (let item = lane.queue.shift(); item !== undefined; item = lane.queue.shift()) {
      if (connection.closed) {
        lane.queue.length = 0
        return
      }
      const next = handle(ctx, connection, item)
      if (next !== undefined) return wait(ctx, connection, lane, next)
    }
  })
}

/** `connected` went out: the frames held until then are handled, each in its lane. */
export function drain(ctx: ProtocolContext, connection: Connection): void {
  for (let frame = connection.nextHeld(); frame !== undefined; frame = connection.nextHeld()) {
    if (connection.closed) continue
    route(ctx, connection, parse(ctx, frame.data, frame.isBinary))
  }
  for (let refused = connection.takeRefusedWhileHeld(); refused > 0 && !connection.closed; refused--) reply(ctx, connection, TOO_MANY_WAITING)
}
