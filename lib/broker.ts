/**
 * Who an event is for. `users` names them; `everyone` is every connected user.
 * `exclude` leaves users out (the sender of a typing event, say).
 */
export type Audience =
  | { readonly users: readonly string[]; readonly exclude?: ReadonlySet<string> }
  | { readonly everyone: true; readonly exclude?: ReadonlySet<string> }

/** Delivers an already-serialized event to local connections. */
export type DeliverLocally = (audience: Audience, payload: string) => void

/**
 * Carries events between instances. Every publish goes through the broker and
 * comes back through the one local delivery handler, whether there is one
 * instance or fifty.
 */
export interface Broker {
  publish(audience: Audience, payload: string): void
  /** Starts delivering to this instance's connections. */
  start(deliver: DeliverLocally): Promise<void>
  close(): Promise<void>
}
