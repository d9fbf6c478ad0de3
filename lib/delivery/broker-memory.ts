import type { Audience, Broker, BrokerHandlers, Outbound } from './broker.js'

/** One instance, no Redis: a publish is a local delivery. */
export class LocalBroker implements Broker {
  #handlers: BrokerHandlers | null = null

  async start(handlers: BrokerHandlers): Promise<void> {
    this.#handlers = handlers
  }

  publish(audience: Audience, event: Outbound): void {
    this.#handlers?.deliver(audience, event)
  }

  dropChannel(channelId: string): void {
    this.#handlers?.dropChannel(channelId)
  }

  async close(): Promise<void> {
    this.#handlers = null
  }
}
