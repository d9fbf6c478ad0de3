import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'

/**
 * Lets go of the HTTP response an upgrade was routed with. @fastify/websocket
 * routes an upgrade through Fastify with a ServerResponse assigned to the
 * socket (`socket._httpMessage`), and nothing unassigns it: for the socket's
 * whole life it would keep that response, its request, Fastify's Request and
 * Reply and their child logger (about 5.5 KB of heap a connection). The socket is
 * the WebSocket's now; the response is never written (the reply is hijacked).
 * Detached, the response no longer emits `close` when the socket closes: so
 * it stays attached when something (a host's hook) listens for that.
 */
export function releaseUpgradeResponse(request: IncomingMessage): void {
  const socket = request.socket as (Socket & { _httpMessage?: unknown }) | null
  const response = socket?._httpMessage
  if (!socket || !(response instanceof ServerResponse) || response.req !== request) return
  if (response.listenerCount('close') > 0) return
  response.detachSocket(socket)
}
