import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

/**
 * An event framed once for every recipient: the payload (serialized once by
 * the dispatcher) and, built on first use, the bytes of one unmasked
 * WebSocket text frame carrying it (RFC 6455 5.2: FIN + opcode 1, then the
 * length). The same Buffer is written to every recipient's socket.
 */
export class OutFrame {
  #list: [Buffer] | null = null

  /** `offset`: an application event's place in the history (a resuming connection compares it). */
  constructor(
    readonly payload: string,
    readonly offset?: string,
  ) {}

  /** The frame as the one-element list ws's Sender writes (built once, shared, never modified). */
  get list(): [Buffer] {
    return (this.#list ??= [textFrame(this.payload)])
  }
}

export function textFrame(payload: string): Buffer {
  const length = Buffer.byteLength(payload)
  const offset = length < 126 ? 2 : length < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(offset + length)
  frame[0] = 0x81
  if (offset === 2) {
    frame[1] = length
  } else if (offset === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(0, 2)
    frame.writeUInt32BE(length, 6)
  }
  frame.write(payload, offset, 'utf8')
  return frame
}

/** The parts of ws's Sender (ws 8, lib/sender.js) the fast path relies on. */
export interface RawSender {
  _state: number
  _firstFragment: boolean
  sendFrame(list: Buffer[], cb?: () => void): void
}

/** ws's Sender state in which nothing is queued ahead of a write (DEFAULT = 0). */
const SENDER_IDLE = 0
const OPEN = 1

/**
 * ws's Sender for a socket, when pre-framed bytes may be written through it:
 * no extension negotiated (permessage-deflate would need the payload
 * compressed) and the internals this relies on are there. Null otherwise (or
 * on another ws version): the caller then uses `socket.send`.
 */
export function rawSender(socket: WebSocket): RawSender | null {
  const internal = socket as unknown as { _sender?: RawSender; _extensions?: object }
  const sender = internal._sender
  const plain = internal._extensions !== undefined && Object.keys(internal._extensions).length === 0
  return plain && sender && typeof sender.sendFrame === 'function' && typeof sender._state === 'number' && typeof sender._firstFragment === 'boolean'
    ? sender
    : null
}

/**
 * ws's TCP socket under a WebSocket (ws 8 keeps it as `_socket`, set before
 * the connection is handed over), for write batching; null when it is not a
 * net.Socket (writes then go out one by one, as ws makes them).
 */
export function rawSocket(socket: WebSocket): Socket | null {
  const wire = (socket as unknown as { _socket?: Socket })._socket
  return wire && typeof wire.cork === 'function' && typeof wire.writableCorked === 'number' ? wire : null
}

/** Writes the frame's bytes through the Sender when nothing is queued ahead of them; else lets ws frame the payload. */
export function writeFrame(socket: WebSocket, sender: RawSender | null, frame: OutFrame): void {
  if (sender !== null && sender._state === SENDER_IDLE && sender._firstFragment && socket.readyState === OPEN) {
    sender.sendFrame(frame.list)
  } else {
    socket.send(frame.payload)
  }
}
