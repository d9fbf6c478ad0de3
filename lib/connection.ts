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
  /**
   * Registered from the upgrade on (so it counts against the per-user limit),
   * but deliveries wait for `open`: `connected` must be the first message.
   */
  #state: 'opening' | 'open' | 'closed' = 'opening'

  constructor(
    readonly userId: string,
    readonly socket: WebSocket,
    expiresAt: number,
  ) {
    this.expiresAt = expiresAt
  }

  get closed(): boolean {
    return this.#state === 'closed'
  }

  /** The presence is settled and `connected` goes out first: deliveries start. */
  markOpen(connected: string): void {
    if (this.#state !== 'opening') return
    this.#state = 'open'
    this.socket.send(connected)
  }

  markClosed(): void {
    this.#state = 'closed'
  }

  /** Writes a payload serialized once for all recipients; nothing before `connected` or after close. */
  sendRaw(payload: string): void {
    if (this.#state !== 'open') return
    this.socket.send(payload)
  }

  send(message: { type: string; data: object }): void {
    this.sendRaw(JSON.stringify(message))
  }

  close(code: number, reason: string): void {
    if (this.#state === 'closed') return
    this.socket.close(code, reason)
  }
}
