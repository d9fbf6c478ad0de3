/**
 * The user's own typing, from keystrokes: the first keystroke sends
 * `typing:start`, later ones renew it every `renewMs` (the server ends an
 * unrenewed start after TYPING_TIMEOUT_MS), and `typing:stop` follows by
 * itself `idleMs` after the last keystroke.
 */
import type { ClientMessage } from './protocol.js'

interface Typing {
  /** When the last typing:start went out; 0 when none did (the client was not open). */
  sentAt: number
  idle: ReturnType<typeof setTimeout> | undefined
}

export class TypingSender {
  readonly #typing = new Map<string, Typing>()
  readonly #renewMs: number
  readonly #idleMs: number

  /** `send` returns false when the connection is not open (nothing was sent). */
  constructor(
    private readonly send: (message: ClientMessage) => boolean,
    { renewMs = 5000, idleMs = 3000 }: { renewMs?: number; idleMs?: number } = {},
  ) {
    this.#renewMs = renewMs
    this.#idleMs = idleMs
  }

  keystroke(channelId: string): void {
    const now = Date.now()
    let typing = this.#typing.get(channelId)
    if (typing) clearTimeout(typing.idle)
    else this.#typing.set(channelId, (typing = { sentAt: 0, idle: undefined }))
    if (typing.sentAt === 0 || now - typing.sentAt >= this.#renewMs) {
      if (this.send({ type: 'typing:start', data: { channel_id: channelId } })) typing.sentAt = now
    }
    typing.idle = setTimeout(() => this.stop(channelId), this.#idleMs)
  }

  /** Stops typing in a channel now; nothing is sent unless a start was. */
  stop(channelId: string): void {
    const typing = this.#typing.get(channelId)
    if (!typing) return
    clearTimeout(typing.idle)
    this.#typing.delete(channelId)
    if (typing.sentAt !== 0) this.send({ type: 'typing:stop', data: { channel_id: channelId } })
  }

  /** The connection is gone: the server ended this connection's typing itself. */
  forget(): void {
    for (const typing of this.#typing.values()) clearTimeout(typing.idle)
    this.#typing.clear()
  }
}
