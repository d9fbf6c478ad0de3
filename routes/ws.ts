import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { bearerCredential } from '../lib/support/bearer.js'
import { notFound, sendError } from '../lib/support/http-errors.js'
import { Sessions } from '../lib/protocol/session.js'
import { releaseUpgradeResponse } from '../lib/connections/upgrade-response.js'
import { TokenRejected } from '../lib/support/tokens.js'
import { TypingRate } from '../lib/typing/typing-rate.js'
import { internal } from '../plugins/internals.js'
import { runBeforeOtherPreClose } from '../lib/support/shutdown-order.js'

/**
 * `GET /ws?token=<JWT>`: admission. Every refusal (401, 400, 403, 429) is
 * answered in a hook before the upgrade, so a refused client never holds a
 * socket; an admitted socket is handed to the sessions.
 */
const wsRoute: FastifyPluginAsync = async (instance) => {
  const fastify = internal(instance)
  const { app, realtime } = fastify.realtimeConfig
  const allowedOrigins = app.corsOrigins.length > 0 ? new Set(app.corsOrigins) : null
  const registry = fastify.wsRegistry
  const metrics = fastify.realtimeMetrics
  const protocol = {
    presence: fastify.realtimePresence,
    subscriptions: fastify.realtimePresenceSubscriptions,
    typing: fastify.realtimeTyping,
    typingRate: new TypingRate(realtime.typingRatePerSec),
    verifyToken: fastify.verifyAccessToken,
    metrics,
    log: fastify.log.child({ component: 'ws' }),
  }
  const sessions = new Sessions(
    protocol,
    registry,
    {
      maxBufferedBytes: realtime.maxBufferedBytes,
      rateLimitPerSec: realtime.rateLimitPerSec,
      rateLimitBurst: realtime.rateLimitBurst,
    },
    realtime.maxPayloadBytes,
    { history: fastify.realtimeCluster.history },
  )

  function refuse(reply: FastifyReply, status: number, code: string, message: string) {
    metrics.refusals.add(String(status))
    return sendError(reply, status, code, message)
  }

  /**
   * The token of an upgrade: `?token=` or `Authorization: Bearer` (contract
   * section 2). A string is the token (or undefined: none); an object says why
   * the request carries no single token.
   */
  function tokenOf(request: FastifyRequest): string | undefined | { refused: string } {
    const query = (request.query as { token?: unknown }).token
    if (query !== undefined && typeof query !== 'string') return { refused: 'missing token: send the token key once' }
    const authorization = request.headers.authorization
    const fromHeader = bearerCredential(authorization)
    // A Bearer header that holds no single credential is a mistake, not an absence: the query token does not cover it.
    // (Another scheme, such as the Basic of a site behind a password, is not ours and is left alone.)
    if (fromHeader === undefined && query !== undefined && /^bearer\b/i.test(authorization ?? '')) {
      return { refused: 'the Authorization header is not `Bearer <token>`: send the token once, in the header or the query' }
    }
    if (query !== undefined && fromHeader !== undefined && query !== fromHeader) {
      return { refused: 'the token in the query and the one in the Authorization header differ: send one' }
    }
    return query ?? fromHeader
  }

  async function admit(request: FastifyRequest, reply: FastifyReply) {
    const origin = request.headers.origin
    if (allowedOrigins && !allowedOrigins.has(origin ?? '')) {
      return refuse(reply, 403, 'forbidden', 'this Origin may not open a connection')
    }
    // A page on an allowed origin may read why its upgrade was refused (the client asks over plain HTTP).
    if (origin !== undefined) reply.header('access-control-allow-origin', origin).header('vary', 'Origin')
    const token = tokenOf(request)
    if (typeof token === 'object') return refuse(reply, 401, 'unauthorized', token.refused)
    try {
      request.realtimeClaims = fastify.verifyAccessToken(token)
    } catch (error) {
      if (error instanceof TokenRejected) return refuse(reply, error.statusCode, error.code, error.message)
      throw error
    }
    if (registry.senders(request.realtimeClaims.sub).size >= realtime.maxConnectionsPerUser) {
      return refuse(reply, 429, 'too_many_connections', `at most ${realtime.maxConnectionsPerUser} connections per user`)
    }
    // Without an upgrade this is the client asking why an upgrade failed: admitted, it would have been upgraded.
    if (!request.ws) return sendError(reply, 426, 'upgrade_required', 'this token would be admitted: open a WebSocket')
  }

  // Before every other preClose of the application (a host's @fastify/websocket closes sockets bare, 1005):
  // typists stopped, then every connection closed going away (1001) and its user recorded offline.
  runBeforeOtherPreClose(fastify, () => sessions.shutdown())
  fastify.get('/ws', { websocket: true, onRequest: admit }, (socket, request) => {
    releaseUpgradeResponse(request.raw)
    sessions.open(socket, request.realtimeClaims!, sinceOf(request))
  })
  // Another method on /ws is ours to answer: embedded without a prefix, the host's 404 would log and
  // echo the URL, token and all. (OPTIONS is left to a host's CORS plugin.)
  fastify.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE'], url: '/ws', schema: { hide: true }, handler: notFound })
}

/**
 * `?since=` (contract section 8): a resume. Any value is one (a bad one gets
 * `recovered: false`, never a refusal); one given twice is not an offset.
 */
function sinceOf(request: FastifyRequest): string | undefined {
  const since = (request.query as { since?: unknown }).since
  if (since === undefined) return undefined
  return typeof since === 'string' ? since : ''
}

export default wsRoute
