import type { TypingStartEvent, TypingStopEvent } from '../../schemas/server-messages.js'
import type { Connection } from '../connections/connection.js'
import type { Dispatcher } from '../delivery/dispatcher.js'
import type { MembershipCache } from '../membership/membership-cache.js'
import type { Typist, TypingState } from './typing-state.js'

/** A typist started by a connection of this instance: its owner watches the expiry. */
interface Owned {
  readonly userId: string
  readonly channelId: string
  readonly connection: Connection
  readonly owner: string
  expiresAt: number
  /** A check with the shared state is under way; the sweep leaves it alone. */
  checking: boolean
}

/** The sender is not a member of the channel. */
export class NotAMemberError extends Error {
  constructor(readonly channelId: string) {
    super(`not a member of channel ${channelId}`)
    this.name = 'NotAMemberError'
  }
}

/** The user's typing, all instances together, is past TYPING_RATE_PER_SEC: the message was dropped. */
export class TypingRateLimitedError extends Error {
  constructor() {
    super('too much typing from this user')
    this.name = 'TypingRateLimitedError'
  }
}

function typingEvent<T extends 'typing:start' | 'typing:stop'>(type: T, channelId: string, userId: string) {
  return { type, data: { channel_id: channelId, user_id: userId } } as T extends 'typing:start'
    ? TypingStartEvent
    : TypingStopEvent
}

/**
 * Typing (contract section 4). The state of a user typing in a channel is
 * shared (TypingState) whichever connection or instance touches it; a start
 * is announced once, renewed silently, and ended by a stop, by expiry (one
 * sweep, no timer per typist) or by the close of the connection that started it.
 */
export class TypingService {
  /** Shutdown began: typists are being ended, and no new one is started. */
  #closing = false
  readonly #owned = new Map<string, Owned>()

  constructor(
    private readonly membership: MembershipCache,
    private readonly dispatcher: Dispatcher,
    private readonly state: TypingState,
    private readonly instanceId: string,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {
    state.onOrphansEnded?.((typists) => this.#orphansEnded(typists))
  }

  async start(connection: Connection, channelId: string): Promise<void> {
    const members = await this.membership.members(channelId)
    const userId = connection.userId
    if (!members.set.has(userId)) throw new NotAMemberError(channelId)
    // The connection may have closed while membership was read, or shutdown begun: nothing to start then.
    if (connection.closed || this.#closing) return
    const key = `${channelId}:${userId}`
    const expiresAt = this.now() + this.timeoutMs
    const owner = `${this.instanceId}:${connection.id}`
    const outcome = await this.state.start(channelId, userId, owner, expiresAt)
    if (outcome === 'limited') throw new TypingRateLimitedError()
    // Closed while the shared state was being set (its close found nothing to stop yet), or shutdown began meanwhile.
    if (connection.closed || this.#closing) return this.#closedWhileStarting(channelId, userId, owner, outcome)
    const owned = this.#owned.get(key)
    if (outcome === 'renewed') {
      if (owned) owned.expiresAt = expiresAt
      return
    }
    this.#owned.set(key, { userId, channelId, connection, owner, expiresAt, checking: false })
    connection.typingIn(channelId)
    this.dispatcher.publish({ users: members.list, exclude: new Set([userId]) }, typingEvent('typing:start', channelId, userId))
  }

  async stop(connection: Connection, channelId: string): Promise<void> {
    const members = await this.membership.members(channelId)
    const userId = connection.userId
    if (!members.set.has(userId)) throw new NotAMemberError(channelId)
    const key = `${channelId}:${userId}`
    const stopped = await this.state.stop(channelId, userId)
    if (stopped === 'limited') throw new TypingRateLimitedError()
    // The shared state could not say (Redis away): a typist started here is known here.
    const wasTyping = stopped ?? this.#owned.has(key)
    this.#disown(key)
    if (wasTyping) this.#announceStop(channelId, userId, members.list)
  }

  /**
   * A start whose connection closed while it was being handled: ended at once
   * rather than at the timeout. Nobody was told of it, so nothing is announced;
   * a renewal belongs to whoever started the typing.
   */
  #closedWhileStarting(channelId: string, userId: string, owner: string, outcome: 'started' | 'renewed'): void {
    if (outcome === 'started') void this.state.endOwned(channelId, userId, owner)
  }

  /** Ends every typing the closing connection started (and still owns). */
  connectionClosed(connection: Connection): void {
    const channels = connection.takeTypingChannels()
    if (channels === null) return
    for (const channelId of channels) {
      const key = `${channelId}:${connection.userId}`
      const owned = this.#owned.get(key)
      if (owned?.connection !== connection) continue
      this.#owned.delete(key)
      void this.state.endOwned(channelId, owned.userId, owned.owner).then((ended) => {
        if (ended) void this.#announceStopToMembers(channelId, owned.userId)
      })
    }
  }

  /** Checks every owned typist that is due; called by the liveness sweep. */
  expire(): void {
    const now = this.now()
    for (const [key, owned] of this.#owned) {
      if (owned.expiresAt > now || owned.checking) continue
      owned.checking = true
      void this.state.expire(owned.channelId, owned.userId, owned.owner, now).then((check) => {
        owned.checking = false
        if (check.outcome === 'renewed') {
          owned.expiresAt = check.expiresAt
          return
        }
        if (this.#owned.get(key) === owned) this.#disown(key)
        if (check.outcome === 'ended') void this.#announceStopToMembers(owned.channelId, owned.userId)
      })
    }
  }

  /**
   * This instance is shutting down (contract section 6): every typist its
   * connections own is ended and its stop announced, before they close.
   * Resolves once the stops are published.
   */
  async endAllOwned(): Promise<void> {
    // From now on a start is not announced: its stop would have nobody left to send it.
    this.#closing = true
    const ending: Promise<void>[] = []
    for (const [key, owned] of this.#owned) {
      this.#disown(key)
      const ended = this.state.endOwned(owned.channelId, owned.userId, owned.owner)
      ending.push(ended.then((wasOn) => (wasOn ? this.#announceStopToMembers(owned.channelId, owned.userId) : undefined)))
    }
    await Promise.all(ending)
  }

  /** Another instance was counted out and this one ended its typists: their stops are announced here. */
  #orphansEnded(typists: readonly Typist[]): void {
    for (const typist of typists) void this.#announceStopToMembers(typist.channelId, typist.userId)
  }

  /** Typists owned by this instance's connections. */
  get size(): number {
    return this.#owned.size
  }

  #disown(key: string): void {
    const owned = this.#owned.get(key)
    if (!owned) return
    this.#owned.delete(key)
    owned.connection.notTypingIn(owned.channelId)
  }

  async #announceStopToMembers(channelId: string, userId: string): Promise<void> {
    // The server's own stop must not be lost to a database hiccup: a stale list will do.
    const members = await this.membership.members(channelId, true).catch(() => null)
    if (members) this.#announceStop(channelId, userId, members.list)
  }

  #announceStop(channelId: string, userId: string, members: readonly string[]): void {
    this.dispatcher.publish({ users: members, exclude: new Set([userId]) }, typingEvent('typing:stop', channelId, userId))
  }
}
