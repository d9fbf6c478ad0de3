import type { Audience, Broker, BrokerHandlers, Outbound } from './broker.js'
import type { MemoryHistory } from '../history/history-memory.js'

/** One instance, no Redis: a publish is a local delivery; an application event is kept in the history first. */
export class LocalBroker implements Broker {
  #handlers: BrokerHandlers | null = null

  constructor(private readonly history: MemoryHistory) {}

  async start(handlers: BrokerHandlers): Promise<void> {
    this.#handlers = handlers
  }

  publish(audience: Audience, event: Outbound): void {
    if (!event.application) {
      this.#handlers?.deliver(audience, event)
      return
    }
    const { offset, frame } = this.history.append(audience, event.payload)
    this.#handlers?.deliver(audience, { type: event.type, payload: frame, publishedAt: event.publishedAt, application: true, offset })
  }

  dropChannel(channelId: string): void {
    this.#handlers?.dropChannel(channelId)
  }

  async close(): Promise<void> {
    this.#handlers = null
  }
}
