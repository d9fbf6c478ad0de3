/**
 * Counters for `GET /metrics`, in Prometheus text. Incrementing is a property
 * add on the hot path; labels are bounded (message types a client may send,
 * error codes, close reasons, and the application's own event types).
 */

class LabelledCounter {
  readonly values: Record<string, number> = Object.create(null)

  add(label: string, by = 1): void {
    this.values[label] = (this.values[label] ?? 0) + by
  }

  get(label: string): number {
    return this.values[label] ?? 0
  }
}

export interface Gauges {
  connections: number
  users: number
  presenceWriteBacklog: number
  typists: number
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

export class Metrics {
  /** Frames received, by message type (`invalid` when none could be read). */
  readonly messagesIn = new LabelledCounter()
  /** Frames written to sockets, by message type. */
  readonly messagesOut = new LabelledCounter()
  /** `error` messages sent, by code. */
  readonly errors = new LabelledCounter()
  /** Connections closed, by reason. */
  readonly closes = new LabelledCounter()
  /** Upgrades refused before the WebSocket opened, by HTTP status. */
  readonly refusals = new LabelledCounter()
  connectionsOpened = 0
  presenceWriteFailures = 0

  render(gauges: Gauges): string {
    const lines: string[] = []
    const gauge = (name: string, help: string, value: number) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`)
    const counter = (name: string, help: string, value: number) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`)
    const labelled = (name: string, help: string, label: string, counter: LabelledCounter) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`)
      for (const [key, value] of Object.entries(counter.values)) lines.push(`${name}{${label}="${escapeLabel(key)}"} ${value}`)
    }
    gauge('roomler_connections', 'Open WebSocket connections on this instance', gauges.connections)
    gauge('roomler_users', 'Users with at least one open connection on this instance', gauges.users)
    gauge('roomler_typing', 'Users typing in a channel right now', gauges.typists)
    gauge('roomler_presence_write_backlog', 'Presence writes not yet in the database', gauges.presenceWriteBacklog)
    counter('roomler_connections_opened_total', 'WebSocket connections accepted', this.connectionsOpened)
    labelled('roomler_upgrades_refused_total', 'Upgrades refused before the WebSocket opened', 'status', this.refusals)
    labelled('roomler_connections_closed_total', 'Connections closed', 'reason', this.closes)
    labelled('roomler_messages_in_total', 'Frames received', 'type', this.messagesIn)
    labelled('roomler_messages_out_total', 'Frames written to sockets', 'type', this.messagesOut)
    labelled('roomler_errors_total', 'error messages sent', 'code', this.errors)
    counter('roomler_presence_write_failures_total', 'Presence writes that failed and were retried', this.presenceWriteFailures)
    return lines.join('\n') + '\n'
  }
}
