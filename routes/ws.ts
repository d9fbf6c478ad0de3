import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { sendError } from '../lib/support/http-errors.js'
import { Sessions } from '../lib/protocol/session.js'
import { TokenRejected } from '../lib/support/tokens.js'
import { TypingRate } from '../lib/typing/typing-rate.js'

/**
 * `GET /ws?token=<JWT>`: admission. Every refusal (401, 400, 403, 429) is
 * answered in a hook before the upgrade, so a refused client never holds a
 * socket; an admitted socket is handed to the sessions.
 */
const wsRoute: FastifyPluginAsync = async (fastify) => {
  const { app, realtime } = fastify.realtimeConfig
  const allowedOrigins = app.corsOrigins.length > 0 ? new Set(app.corsOrigins) : null
  const registry = fastify.wsRegistry
  const metrics = fastify.realtimeMetrics
  const protocol = {
    presence: fastify.realtimePresence,
    typing: fastify.realtimeTyping,
    typingRate: new TypingRate(realtime.typingRatePerSec),
    verifyToken: fastify.verifyAccessToken,
    metrics,
    log: fastify.log.child({ component: 'ws' }),
  }
  const sessions = new Sessions(protocol, registry, {
    maxBufferedBytes: realtime.maxBufferedBytes,
    rateLimitPerSec: realtime.rateLimitPerSec,
    rateLimitBurst: realtime.rateLimitBurst,
  })

  function refuse(reply: FastifyReply, status: number, code: string, message: string) {
    metrics.refusals.add(String(status))
    return sendError(reply, status, code, message)
  }

  async function admit(request: FastifyRequest, reply: FastifyReply) {
    if (allowedOrigins && !allowedOrigins.has(request.headers.origin ?? '')) {
      return refuse(reply, 403, 'forbidden', 'this Origin may not open a connection')
    }
    const token = (request.query as { token?: unknown }).token
    try {
      request.realtimeClaims = fastify.verifyAccessToken(typeof token === 'string' ? token : undefined)
    } catch (error) {
      if (error instanceof TokenRejected) return refuse(reply, error.statusCode, error.code, error.message)
      throw error
    }
    if (registry.senders(request.realtimeClaims.sub).size >= realtime.maxConnectionsPerUser) {
      return refuse(reply, 429, 'too_many_connections', `at most ${realtime.maxConnectionsPerUser} connections per user`)
    }
  }

  fastify.addHook('preClose', () => sessions.shutdown())
  fastify.get('/ws', { websocket: true, onRequest: admit }, (socket, request) => sessions.open(socket, request.realtimeClaims!))
}

export default wsRoute
