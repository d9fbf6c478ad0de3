import type { WebSocket } from 'ws'

type Limited = { _maxPayload?: unknown }
type Receiving = { _receiver?: Limited; _extensions?: Record<string, Limited | undefined> }

/**
 * Holds MAX_PAYLOAD_BYTES on a socket whatever WebSocket server made it: a
 * host's @fastify/websocket may have been registered with ws's default
 * (100 MiB). ws's receiver checks every frame header against its limit before
 * it buffers the payload, and closes with 1009 past it. With permessage-deflate
 * the inflater has a limit of its own, checked as it inflates: lowered too,
 * or a 16 KiB frame could inflate to 100 MiB before the receiver looked.
 * Returns false when the socket has no such receiver (another WebSocket
 * implementation).
 */
export function limitPayload(socket: WebSocket, maxPayloadBytes: number): boolean {
  const { _receiver: receiver, _extensions: extensions } = socket as unknown as Receiving
  if (!receiver || typeof receiver._maxPayload !== 'number') return false
  lower(receiver, maxPayloadBytes)
  const deflate = extensions?.['permessage-deflate']
  if (deflate && typeof deflate._maxPayload === 'number') lower(deflate, maxPayloadBytes)
  return true
}

function lower(limited: Limited, maxPayloadBytes: number): void {
  const current = limited._maxPayload as number
  if (current === 0 || current > maxPayloadBytes) limited._maxPayload = maxPayloadBytes
}
