/**
 * Who an event is for. `users` names them; `everyone` is every connected user.
 * `exclude` leaves users out (the sender of a typing event, say). `channel`:
 * the users are that channel's members as they were when it was published
 * (a resume replays it only to those still members).
 */
export type Audience =
  | { readonly users: readonly string[]; readonly exclude?: ReadonlySet<string>; readonly channel?: string }
  | { readonly everyone: true; readonly exclude?: ReadonlySet<string> }

/** An event serialized once: the same bytes go to every recipient. */
export interface Outbound {
  readonly type: string
  /** The frame; for an application event, with its offset once the history gave it one. */
  readonly payload: string
  /** performance.now() when it was published here; absent for an event from another instance. */
  readonly publishedAt?: number
  /** An application event (contract section 8): kept in the history, sent with an offset. */
  readonly application?: boolean
  /** Its place in the history (set by the broker, which keeps it). */
  readonly offset?: string
}

/** Delivers an event to this instance's connections. */
export type DeliverLocally = (audience: Audience, event: Outbound) => void

/** What the broker hands back to this instance. */
export interface BrokerHandlers {
  deliver: DeliverLocally
  /** Another instance (or this one) dropped a channel's cached membership. */
  dropChannel(channelId: string): void
}

/**
 * Carries events between instances. Every publish goes through the broker and
 * comes back through the one local delivery handler, whether there is one
 * instance or fifty.
 */
export interface Broker {
  publish(audience: Audience, event: Outbound): void
  /** Drops a channel's cached membership on every instance. */
  dropChannel(channelId: string): void
  /** Starts delivering to this instance's connections. */
  start(handlers: BrokerHandlers): Promise<void>
  close(): Promise<void>
}
