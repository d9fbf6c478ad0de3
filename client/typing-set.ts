/**
 * Who is typing in each channel, from others' `typing:start` and
 * `typing:stop` (contract section 4). The server always sends the stop (at
 * its timeout, a close, an instance's end), but it announces a typist once
 * and renews them silently, so the set cannot end an entry at the server's
 * TYPING_TIMEOUT_MS: someone who types for longer without a pause would
 * vanish. It keeps a safety net instead, for a stop lost in a Redis outage
 * between instances (typing is state, not history, and is not caught up):
 * an entry ends by itself `timeoutMs` (default a minute) after the last
 * `typing:start` heard for it. Every entry ends when the connection drops,
 * since the stops sent meanwhile are lost and typing is not replayed.
 */
import type { RealtimeClient } from './realtime-client.js'
import { emit, type Listener } from './listeners.js'

/** How long an entry lasts without a stop (the safety net above): longer than anyone types without a pause. */
export const STALE_TYPING_MS = 60_000

export interface TypingChange {
  channelId: string
  /** Everyone typing in the channel now. */
  userIds: string[]
}

export class TypingSet {
  readonly #channels = new Map<string, Map<string, ReturnType<typeof setTimeout>>>()
  readonly #listeners = new Set<Listener<TypingChange>>()
  readonly #offs: Array<() => void>
  readonly #timeoutMs: number

  constructor(client: RealtimeClient<any>, { timeoutMs = STALE_TYPING_MS }: { timeoutMs?: number } = {}) {
    this.#timeoutMs = timeoutMs
    this.#offs = [
      client.on('typing:start', ({ data }) => this.#start(data.channel_id, data.user_id)),
      client.on('typing:stop', ({ data }) => this.#stop(data.channel_id, data.user_id)),
      client.onState(({ state }) => {
        if (state !== 'open') this.#clear()
      }),
    ]
  }

  /** The users typing in a channel now. */
  typing(channelId: string): string[] {
    return [...(this.#channels.get(channelId)?.keys() ?? [])]
  }

  isTyping(channelId: string, userId: string): boolean {
    return this.#channels.get(channelId)?.has(userId) ?? false
  }

  /** Told each time a channel's typists change. */
  onChange(listener: (change: TypingChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Stops listening to the client and ends every entry. */
  dispose(): void {
    for (const off of this.#offs) off()
    this.#clear()
  }

  #start(channelId: string, userId: string): void {
    let typists = this.#channels.get(channelId)
    if (!typists) this.#channels.set(channelId, (typists = new Map()))
    const known = typists.get(userId)
    clearTimeout(known)
    typists.set(
      userId,
      setTimeout(() => this.#stop(channelId, userId), this.#timeoutMs),
    )
    if (known === undefined) this.#changed(channelId)
  }

  #stop(channelId: string, userId: string): void {
    const typists = this.#channels.get(channelId)
    const timer = typists?.get(userId)
    if (!typists || timer === undefined) return
    clearTimeout(timer)
    typists.delete(userId)
    if (typists.size === 0) this.#channels.delete(channelId)
    this.#changed(channelId)
  }

  #clear(): void {
    for (const [channelId, typists] of [...this.#channels]) {
      for (const timer of typists.values()) clearTimeout(timer)
      this.#channels.delete(channelId)
      this.#changed(channelId)
    }
  }

  #changed(channelId: string): void {
    emit(this.#listeners, { channelId, userIds: this.typing(channelId) })
  }
}
