/**
 * One WebSocket attempt, wired: text frames parsed, and on its close whether
 * it had opened, and the status of a refused upgrade when the implementation
 * tells it (Node's `ws` does; a browser does not).
 */
import type { WebSocketConstructor, WebSocketLike } from './options.js'
import { statusOfError } from './retry-policy.js'

export interface SocketEvents {
  /** A text frame that parsed as JSON. */
  frame(message: unknown): void
  closed(close: { opened: boolean; code: number; reason: string | undefined; status: number | undefined }): void
}

/** Opens a socket to `url`; the events stop once `detach` is called. */
export function openSocket(WebSocketImpl: WebSocketConstructor, url: string, events: SocketEvents): { socket: WebSocketLike; detach(): void } {
  const socket = new WebSocketImpl(url)
  let opened = false
  let status: number | undefined
  let errorMessage: string | undefined
  socket.onopen = () => {
    opened = true
  }
  socket.onmessage = (event: { data: unknown }) => {
    if (typeof event.data !== 'string') return
    let message: unknown
    try {
      message = JSON.parse(event.data)
    } catch {
      return
    }
    events.frame(message)
  }
  socket.onerror = (event: { message?: unknown }) => {
    errorMessage = typeof event?.message === 'string' ? event.message : undefined
    status = statusOfError(errorMessage) ?? status
  }
  socket.onclose = (event: { code?: number; reason?: string }) => {
    events.closed({ opened, code: event.code ?? 1006, reason: event.reason || errorMessage, status })
  }
  return {
    socket,
    detach() {
      socket.onopen = socket.onmessage = socket.onclose = null
      // Still listening: `ws` throws an error event nobody listens to (e.g. closing while connecting).
      socket.onerror = () => {}
    },
  }
}
