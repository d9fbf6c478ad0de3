/** What became of a typist its owner found due for expiry. */
export type ExpiryCheck =
  | { outcome: 'ended' }
  /** Renewed (possibly through another instance): due again at `expiresAt`. */
  | { outcome: 'renewed'; expiresAt: number }
  /** Stopped by another connection or instance meanwhile: nothing to announce. */
  | { outcome: 'gone' }

/** A user typing in a channel. */
export interface Typist {
  readonly channelId: string
  readonly userId: string
}

/**
 * Who is typing where, shared by every instance: a user's typing in a channel
 * is one state whichever connection (or instance) starts, renews or stops it.
 * The owner (`instance:connection` that started it) watches its expiry.
 * One instance: in memory; many: Redis. Implementations do not throw.
 *
 * `limited`: the user's typing:start/typing:stop messages, all instances
 * together, are past TYPING_RATE_PER_SEC; nothing changed, and the sender is
 * told `rate_limited`. Only a state shared by many instances says it: one
 * instance's own bucket (TypingRate) is the whole limit, so the memory state
 * never does, nor does the Redis state while Redis is away.
 */
export interface TypingState {
  /** `started`: announce it; `renewed`: it was already on, and now lasts until `expiresAt`. */
  start(channelId: string, userId: string, owner: string, expiresAt: number): Promise<'started' | 'renewed' | 'limited'>
  /** Whether it was on (and so its stop is to be announced); undefined when the shared state could not say. */
  stop(channelId: string, userId: string): Promise<boolean | undefined | 'limited'>
  /** The owner's check of a typist due at `now`. */
  expire(channelId: string, userId: string, owner: string, now: number): Promise<ExpiryCheck>
  /** The owner's connection closed: ends it if that connection still owns it. */
  endOwned(channelId: string, userId: string, owner: string): Promise<boolean>
  /**
   * Many instances: told of the typists this instance ended because the
   * instance that owned them was counted out, so that their stops are
   * announced (one instance has no other to count out).
   */
  onOrphansEnded?(listener: (typists: readonly Typist[]) => void): void
}
