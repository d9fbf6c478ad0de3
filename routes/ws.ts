import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { CloseCode } from '../lib/connections/close-codes.js'
import { Connection } from '../lib/connections/connection.js'
import { sendError } from '../lib/support/http-errors.js'
import { drain, receive, type ProtocolContext } from '../lib/protocol/receive.js'
import { TokenRejected } from '../lib/support/tokens.js'
import { withTimeout } from '../lib/support/timeout.js'
import type { ConnectedMessage } from '../schemas/server-messages.js'

const CONNECTION = Symbol('roomler.connection')
/** A socket knows its connection, so that one set of listeners serves them all. */
type Socket = WebSocket & { [CONNECTION]?: Connection }

/** How long shutdown waits for every user's presence to be settled across instances. */
const SHUTDOWN_PRESENCE_MS = 3000

/**
 * `GET /ws?token=<JWT>`: every refusal (401, 400, 403, 429) is answered in a
 * hook before the upgrade, so a refused client never holds a socket.
 */
const wsRoute: FastifyPluginAsync = async (fastify) => {
  const { app, realtime } = fastify.realtimeConfig
  const allowedOrigins = app.corsOrigins.length > 0 ? new Set(app.corsOrigins) : null
  const registry = fastify.wsRegistry
  const presence = fastify.realtimePresence
  const typing = fastify.realtimeTyping
  const metrics = fastify.realtimeMetrics
  const limits = {
    maxBufferedBytes: realtime.maxBufferedBytes,
    rateLimitPerSec: realtime.rateLimitPerSec,
    rateLimitBurst: realtime.rateLimitBurst,
  }
  const ctx: ProtocolContext = {
    presence,
    typing,
    verifyToken: fastify.verifyAccessToken,
    metrics,
    log: fastify.log.child({ component: 'ws' }),
  }

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

  let shuttingDown = false

  /** A connection is gone: out of the registry, its typing ended, its presence uncounted. */
  function forget(connection: Connection) {
    if (connection.released) return
    connection.released = true
    connection.markClosed()
    metrics.closes.add(connection.closeReason)
    registry.remove(connection)
    if (shuttingDown) return
    typing.connectionClosed(connection)
    presence.connectionClosed(connection.userId)
  }

  // Shutdown closes every connection with 1001 and records everyone offline in
  // one pass: announcing each departure to everyone else would cost N² sends.
  fastify.addHook('preClose', async () => {
    shuttingDown = true
    for (const connection of [...registry.connections()]) {
      connection.close(CloseCode.GOING_AWAY, 'server shutting down', 'shutdown')
      forget(connection)
    }
    await withTimeout(presence.allOffline(), SHUTDOWN_PRESENCE_MS).catch(() => {
      ctx.log.warn('not every user could be recorded offline before shutdown')
    })
  })

  // One set of listeners for every socket (`this` is the socket), not closures
  // per connection: idle memory is per connection, and there may be many.
  function onMessage(this: Socket, data: Buffer, isBinary: boolean) {
    receive(ctx, this[CONNECTION]!, data, isBinary)
  }
  function onPong(this: Socket) {
    this[CONNECTION]!.alive = true
  }
  function onClose(this: Socket) {
    forget(this[CONNECTION]!)
  }
  function onError(this: Socket, error: Error & { code?: string }) {
    const connection = this[CONNECTION]!
    // ws closes an oversized frame (1009) itself; its error is the only trace of why.
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' && connection.closeReason === 'client') {
      connection.closeReason = 'payload_too_big'
    }
    // A client's protocol mistake (bad UTF-8, an oversized frame) is theirs; ws closes it with the right code.
    if (!error.code?.startsWith('WS_ERR_')) ctx.log.warn({ err: error }, 'websocket error')
  }

  function open(socket: Socket, request: FastifyRequest) {
    const claims = request.realtimeClaims!
    const connection = new Connection(claims.sub, socket, claims.exp * 1000, limits)
    socket[CONNECTION] = connection
    metrics.connectionsOpened++
    // Registered at once, so that it counts against the per-user limit while its presence settles.
    registry.add(connection)
    // Frames that arrive before `connected` wait until the presence is settled.
    connection.backlog = []
    // @fastify/websocket's own error listener holds the upgrade's request and
    // reply for the socket's whole life; ours needs neither.
    socket.removeAllListeners('error')
    socket.on('error', onError)
    // Listeners go on before any await, or early frames would be lost.
    socket.on('message', onMessage)
    socket.on('pong', onPong)
    socket.on('close', onClose)
    void presence.connectionOpened(connection.userId).then(() => settled(connection))
  }

  /** The presence is known: `connected` goes out first, then the frames that waited. */
  function settled(connection: Connection) {
    if (connection.closed) return
    const connected: ConnectedMessage = { type: 'connected', data: { user_id: connection.userId } }
    connection.markOpen(JSON.stringify(connected))
    metrics.messagesOut.add('connected')
    drain(ctx, connection)
  }

  fastify.get('/ws', { websocket: true, onRequest: admit }, open)
}

export default wsRoute
