import type { TypingStartEvent, TypingStopEvent } from '../schemas/server-messages.js'
import type { Connection } from './connection.js'
import type { Dispatcher } from './dispatcher.js'
import type { MembershipCache } from './membership-cache.js'

interface Typist {
  readonly userId: string
  readonly channelId: string
  /** The connection that started it: its close ends the typing. */
  readonly startedBy: Connection
  expiresAt: number
}

/** The sender is not a member of the channel. */
export class NotAMemberError extends Error {
  constructor(readonly channelId: string) {
    super(`not a member of channel ${channelId}`)
    this.name = 'NotAMemberError'
  }
}

function typingEvent<T extends 'typing:start' | 'typing:stop'>(type: T, typist: Typist) {
  return { type, data: { channel_id: typist.channelId, user_id: typist.userId } } as T extends 'typing:start'
    ? TypingStartEvent
    : TypingStopEvent
}

/**
 * Who is typing where (contract section 4). State belongs to a user and a
 * channel; a start is announced once, renewed silently, and ended by a stop,
 * by expiry (one sweep for all typists, no timer each) or by the close of the
 * connection that started it.
 */
export class TypingService {
  readonly #typists = new Map<string, Typist>()

  constructor(
    private readonly membership: MembershipCache,
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async start(connection: Connection, channelId: string): Promise<void> {
    const members = await this.membership.members(channelId)
    const userId = connection.userId
    if (!members.set.has(userId)) throw new NotAMemberError(channelId)
    const key = `${channelId}:${userId}`
    const typing = this.#typists.get(key)
    if (typing) {
      typing.expiresAt = this.now() + this.timeoutMs
      return
    }
    // The connection may have closed while membership was read: nothing to start then.
    if (connection.closed) return
    const typist: Typist = { userId, channelId, startedBy: connection, expiresAt: this.now() + this.timeoutMs }
    this.#typists.set(key, typist)
    connection.typingChannels.add(channelId)
    this.dispatcher.broadcast(members.list, typingEvent('typing:start', typist), { exclude: [userId] })
  }

  async stop(connection: Connection, channelId: string): Promise<void> {
    const members = await this.membership.members(channelId)
    if (!members.set.has(connection.userId)) throw new NotAMemberError(channelId)
    const typist = this.#typists.get(`${channelId}:${connection.userId}`)
    if (typist) this.#end(typist, members.list)
  }

  /** Ends every typing the closing connection started. */
  connectionClosed(connection: Connection): void {
    for (const channelId of connection.typingChannels) {
      const typist = this.#typists.get(`${channelId}:${connection.userId}`)
      if (typist?.startedBy === connection) void this.#endWithStoredMembers(typist)
    }
    connection.typingChannels.clear()
  }

  /** Ends every typing not renewed in time; called by the liveness sweep. */
  expire(): void {
    const now = this.now()
    for (const typist of this.#typists.values()) {
      if (typist.expiresAt <= now) void this.#endWithStoredMembers(typist)
    }
  }

  isTyping(userId: string, channelId: string): boolean {
    return this.#typists.has(`${channelId}:${userId}`)
  }

  get size(): number {
    return this.#typists.size
  }

  async #endWithStoredMembers(typist: Typist): Promise<void> {
    this.#forget(typist)
    // The server's own stop must not be lost to a database hiccup: a stale list will do.
    const members = await this.membership.members(typist.channelId, true).catch(() => null)
    if (members) this.#announceStop(typist, members.list)
  }

  #end(typist: Typist, members: readonly string[]): void {
    this.#forget(typist)
    this.#announceStop(typist, members)
  }

  #forget(typist: Typist): void {
    this.#typists.delete(`${typist.channelId}:${typist.userId}`)
    typist.startedBy.typingChannels.delete(typist.channelId)
  }

  #announceStop(typist: Typist, members: readonly string[]): void {
    this.dispatcher.broadcast(members, typingEvent('typing:stop', typist), { exclude: [typist.userId] })
  }
}
