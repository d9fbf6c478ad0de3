/**
 * Who an event is for. `users` names them; `everyone` is every connected user.
 * `exclude` leaves users out (the sender of a typing event, say).
 */
export type Audience =
  | { readonly users: readonly string[]; readonly exclude?: ReadonlySet<string> }
  | { readonly everyone: true; readonly exclude?: ReadonlySet<string> }

/** An event serialized once: the same bytes go to every recipient. */
export interface Outbound {
  readonly type: string
  readonly payload: string
}

/** Delivers an event to this instance's connections. */
export type DeliverLocally = (audience: Audience, event: Outbound) => void

/**
 * Carries events between instances. Every publish goes through the broker and
 * comes back through the one local delivery handler, whether there is one
 * instance or fifty.
 */
export interface Broker {
  publish(audience: Audience, event: Outbound): void
  /** Starts delivering to this instance's connections. */
  start(deliver: DeliverLocally): Promise<void>
  close(): Promise<void>
}
