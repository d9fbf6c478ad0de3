import type { ChosenPresence, VisiblePresence } from '../../schemas/common.js'

/** Reads users' presence as the cluster holds it now; fails rather than guess. */
export type ReadPresences = (userIds: readonly string[]) => Promise<Array<ChosenPresence | undefined>>

/** What the route hands back to this instance. */
export interface PresenceRouteHandlers {
  /**
   * A change of `userId`'s visible presence, from this instance or another:
   * `payload` is the presence:update serialized once; `publishedAt` is
   * performance.now() when it was published here (absent from elsewhere).
   */
  deliver(userId: string, presence: VisiblePresence, payload: string, publishedAt?: number): void
  /** Changes may have been missed (the route was cut off): tell the watchers here whatever differs from what `read` says now; `only`: of these users (those still watched), else of every watched user. */
  catchUp(read: ReadPresences, only?: readonly string[]): Promise<void>
}

/**
 * Carries a user's presence changes to the instances that hold a subscriber
 * of that user, and to no other (PRESENCE_SCOPE=subscribed). One instance:
 * in process. Many: a Redis channel per watched user (lib/redis/presence-route.ts).
 */
export interface PresenceRoute {
  start(handlers: PresenceRouteHandlers): void
  /** Delivers the change here and to every other instance that watches the user. */
  publish(userId: string, presence: VisiblePresence, payload: string): void
  /** Someone here watches these users now: resolves once changes made anywhere reach this instance (or once it is known they cannot yet). */
  watch(userIds: readonly string[]): Promise<void>
  /** Nobody here watches these users any more. */
  unwatch(userIds: readonly string[]): void
}

/** One instance: a change is delivered here, and nothing needs routing. */
export class LocalPresenceRoute implements PresenceRoute {
  #handlers: PresenceRouteHandlers | null = null

  start(handlers: PresenceRouteHandlers): void {
    this.#handlers = handlers
  }

  publish(userId: string, presence: VisiblePresence, payload: string): void {
    this.#handlers?.deliver(userId, presence, payload, performance.now())
  }

  async watch(): Promise<void> {}

  unwatch(): void {}
}
