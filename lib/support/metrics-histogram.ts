/**
 * A histogram whose hot path is an array increment, exposed to prom-client
 * as a metric it reads at scrape time (prom-client's own Histogram hashes
 * labels on every observation).
 */

export interface HistogramSource {
  readonly bounds: readonly number[]
  /** Count per bucket (not cumulative); the last one is +Inf. */
  readonly counts: Float64Array
  readonly sum: number
  readonly count: number
}

export class BucketCounts implements HistogramSource {
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }

  reset(): void {
    this.counts.fill(0)
    this.sum = 0
    this.count = 0
  }
}

interface MetricValue {
  value: number
  labels: Record<string, string | number>
  metricName: string
}

/** Duck-typed as prom-client's Metric: a registry only calls `get()` and `reset()` and reads the name. */
export class CollectedHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly source: HistogramSource & { reset?(): void },
  ) {}

  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: MetricValue[] }> {
    const { bounds, counts, sum, count } = this.source
    const values: MetricValue[] = []
    let cumulative = 0
    for (let i = 0; i < bounds.length; i++) {
      cumulative += counts[i]!
      values.push({ value: cumulative, labels: { le: bounds[i]! }, metricName: `${this.name}_bucket` })
    }
    values.push({ value: count, labels: { le: '+Inf' }, metricName: `${this.name}_bucket` })
    values.push({ value: sum, labels: {}, metricName: `${this.name}_sum` })
    values.push({ value: count, labels: {}, metricName: `${this.name}_count` })
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset(): void {
    this.source.reset?.()
  }
}
