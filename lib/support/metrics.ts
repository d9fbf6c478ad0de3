/**
 * The service's metrics. The hot path only adds to plain numbers (a property
 * add, a bucket index); prom-client reads them when Prometheus scrapes
 * (`collect()`), so a delivery costs no label hashing. Labels are bounded:
 * message types a client may send, error codes, close reasons, statuses, and
 * the application's own event types only up to a limit (then `other`).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { BucketCounts, CollectedHistogram, type HistogramSource } from './metrics-histogram.js'
import { serverMessages } from '../../schemas/server-messages.js'

class LabelledCounter {
  readonly values: Record<string, number> = Object.create(null)

  add(label: string, by = 1): void {
    this.values[label] = (this.values[label] ?? 0) + by
  }

  get(label: string): number {
    return this.values[label] ?? 0
  }
}

/** The label every event type past the limit counts under. */
export const OTHER_TYPE = 'other'

/**
 * Frames written, by type: the protocol's own types always have their label;
 * the application's event types get one each for the first `limit` distinct
 * ones, and the rest count as `other` (500 event types are not 500 series).
 */
class TypeCounter extends LabelledCounter {
  #applicationTypes = 0

  constructor(
    private readonly limit: number,
    private readonly isProtocolType: (type: string) => boolean,
  ) {
    super()
  }

  override add(type: string, by = 1): void {
    const values = this.values
    const current = values[type]
    if (current !== undefined) {
      values[type] = current + by
      return
    }
    if (!this.isProtocolType(type)) {
      if (this.#applicationTypes >= this.limit) {
        values[OTHER_TYPE] = (values[OTHER_TYPE] ?? 0) + by
        return
      }
      this.#applicationTypes++
    }
    values[type] = by
  }
}

export interface Gauges {
  connections: number
  users: number
  presenceWriteBacklog: number
  typists: number
  /** presence:subscribe subscriptions held on this instance (PRESENCE_SCOPE=subscribed). */
  presenceSubscriptions: number
}

/**
 * Protocol message types (server to client), counted apart from the
 * application's: exactly the ones the contract defines (`connected`, `pong`,
 * `typing:start`, …). Any other type, `error_1`, `pongX` or a `typing:x` a
 * host pushed through the dispatcher, counts toward the bound.
 */
const PROTOCOL_TYPES: ReadonlySet<string> = new Set(Object.keys(serverMessages))

/** Fan-out sizes: one recipient to ten thousand. */
const FANOUT_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
/** Seconds from publish to the last local write. */
const DELIVERY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
/** Seconds one presence write takes to land. */
const PRESENCE_WRITE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export class Metrics {
  /** Frames received, by message type (`invalid` when none could be read). */
  readonly messagesIn = new LabelledCounter()
  /** Frames written to sockets, by message type (application types bounded). */
  readonly messagesOut: LabelledCounter
  /** `error` messages sent, by code. */
  readonly errors = new LabelledCounter()
  /** Connections closed, by reason. */
  readonly closes = new LabelledCounter()
  /** Upgrades refused before the WebSocket opened, by HTTP status. */
  readonly refusals = new LabelledCounter()
  /** Presence changes Redis delivered to this instance, by channel: `everyone` (all instances hear it) or `subscribers` (the user's own). */
  readonly presenceHeard = new LabelledCounter()
  /** Reconnects with ?since=, by whether the history reached back (`recovered`, `not_recovered`). */
  readonly resumes = new LabelledCounter()
  /** Missed application events replayed to resuming connections. */
  replayedEvents = 0
  /** Application events this instance's reader found trimmed before it read them (its connections closed with 1012). */
  historyLostEvents = 0
  /** Connections each event was written to. */
  readonly fanOut = new BucketCounts(FANOUT_BUCKETS)
  /** From publish to the last local write of an event, in seconds. */
  readonly deliverySeconds = new BucketCounts(DELIVERY_BUCKETS)
  /** One presence write to the database, in seconds. */
  readonly presenceWriteSeconds = new BucketCounts(PRESENCE_WRITE_BUCKETS)
  connectionsOpened = 0
  presenceWriteFailures = 0

  constructor(eventTypeLabels = 50) {
    this.messagesOut = new TypeCounter(eventTypeLabels, (type) => PROTOCOL_TYPES.has(type))
  }

  /** One event written locally: its type, to how many connections, and since when (performance.now() ms). */
  delivered(type: string, connections: number, publishedAt: number): void {
    this.messagesOut.add(type, connections)
    this.fanOut.observe(connections)
    this.deliverySeconds.observe((performance.now() - publishedAt) / 1000)
  }

  /**
   * Puts every series in `registry`, read from these counters at scrape time.
   * `defaults` adds prom-client's process and Node.js metrics (for a registry
   * of our own; a host's registry has its own).
   */
  register(registry: Registry, gauges: () => Gauges, defaults: boolean): void {
    const registers = [registry]
    const gauge = (name: string, help: string, read: (g: Gauges) => number) =>
      new Gauge({ name, help, registers, collect() { this.set(read(gauges())) } })
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()) } })
    const labelled = (name: string, help: string, label: string, source: LabelledCounter) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset()
          for (const [key, value] of Object.entries(source.values)) this.inc({ [label]: key }, value)
        },
      })
    const histogram = (name: string, help: string, source: HistogramSource) =>
      registry.registerMetric(new CollectedHistogram(name, help, source) as never)

    gauge('roomler_connections', 'Open WebSocket connections on this instance', (g) => g.connections)
    gauge('roomler_users', 'Users with at least one open connection on this instance', (g) => g.users)
    gauge('roomler_typing', 'Users typing in a channel right now', (g) => g.typists)
    gauge('roomler_presence_subscriptions', 'Presence subscriptions held by this instance’s connections (PRESENCE_SCOPE=subscribed)', (g) => g.presenceSubscriptions)
    gauge('roomler_presence_write_backlog', 'Presence writes not yet in the database', (g) => g.presenceWriteBacklog)
    counter('roomler_connections_opened_total', 'WebSocket connections accepted', () => this.connectionsOpened)
    labelled('roomler_upgrades_refused_total', 'Upgrades refused before the WebSocket opened', 'status', this.refusals)
    labelled('roomler_connections_closed_total', 'Connections closed', 'reason', this.closes)
    labelled('roomler_resumes_total', 'Reconnects with ?since=, by whether the missed events were recovered', 'result', this.resumes)
    counter('roomler_replayed_events_total', 'Missed application events replayed to resuming connections', () => this.replayedEvents)
    counter('roomler_history_lost_events_total', 'Application events trimmed from the shared history before this instance read them (its connections were closed with 1012)', () => this.historyLostEvents)
    labelled('roomler_messages_in_total', 'Frames received', 'type', this.messagesIn)
    labelled('roomler_messages_out_total', 'Frames written to sockets (application event types past the limit as other)', 'type', this.messagesOut)
    labelled('roomler_errors_total', 'error messages sent', 'code', this.errors)
    labelled('roomler_presence_heard_total', 'Presence changes Redis delivered to this instance, by channel (everyone, or the subscribers of the user)', 'channel', this.presenceHeard)
    counter('roomler_presence_write_failures_total', 'Presence writes that failed and were retried', () => this.presenceWriteFailures)
    histogram('roomler_event_fanout_connections', 'Connections of this instance one event was written to', this.fanOut)
    histogram('roomler_event_delivery_seconds', 'From publish to the last local write of one event', this.deliverySeconds)
    histogram('roomler_presence_write_seconds', 'One presence write to the database, until it landed or failed', this.presenceWriteSeconds)
    if (defaults) collectDefaultMetrics({ register: registry })
  }
}

export { Registry }
