import type { WebSocket } from 'ws'

let nextConnectionId = 1

/**
 * One open WebSocket of one user. The registry holds these; delivery writes
 * already-serialized payloads to them.
 */
export class Connection {
  readonly id = nextConnectionId++
  /** When the token that admitted (or last refreshed) this connection expires, in epoch ms. */
  expiresAt: number
  /** Channels this connection started typing in, so that its close can stop them. */
  readonly typingChannels = new Set<string>()
  /** Whether a protocol Pong answered the last heartbeat Ping. */
  alive = true
  /** Frames that arrived while an earlier one was still being handled (kept in order). */
  backlog: Array<{ data: Buffer; isBinary: boolean }> | null = null
  closed = false

  constructor(
    readonly userId: string,
    readonly socket: WebSocket,
    expiresAt: number,
  ) {
    this.expiresAt = expiresAt
  }

  /** Writes a payload serialized once for all recipients. */
  sendRaw(payload: string): void {
    if (this.closed) return
    this.socket.send(payload)
  }

  send(message: { type: string; data: object }): void {
    this.sendRaw(JSON.stringify(message))
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    this.socket.close(code, reason)
  }
}
