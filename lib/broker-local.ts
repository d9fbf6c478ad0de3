import type { Audience, Broker, DeliverLocally, Outbound } from './broker.js'

/** One instance, no Redis: a publish is a local delivery. */
export class LocalBroker implements Broker {
  #deliver: DeliverLocally | null = null

  async start(deliver: DeliverLocally): Promise<void> {
    this.#deliver = deliver
  }

  publish(audience: Audience, event: Outbound): void {
    this.#deliver?.(audience, event)
  }

  async close(): Promise<void> {
    this.#deliver = null
  }
}
