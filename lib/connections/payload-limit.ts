import type { WebSocket } from 'ws'

type Receiving = { _receiver?: { _maxPayload?: unknown } }

/**
 * Holds MAX_PAYLOAD_BYTES on a socket whatever WebSocket server made it: a
 * host's @fastify/websocket may have been registered with ws's default
 * (100 MiB). ws's receiver checks every frame header against its limit before
 * it buffers the payload, and closes with 1009 past it. Returns false when the
 * socket has no such receiver (another WebSocket implementation).
 */
export function limitPayload(socket: WebSocket, maxPayloadBytes: number): boolean {
  const receiver = (socket as unknown as Receiving)._receiver
  if (!receiver || typeof receiver._maxPayload !== 'number') return false
  const current = receiver._maxPayload
  if (current === 0 || current > maxPayloadBytes) receiver._maxPayload = maxPayloadBytes
  return true
}
