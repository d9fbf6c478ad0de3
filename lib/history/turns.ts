/**
 * Turns for at most `size` tasks at once; the others wait, in order, within
 * bounds: at most `maxWaiting` of them, each at most `waitMs`. A queue
 * without bound is memory and latency without bound: past either, the task
 * is not run and `run` resolves to `refused` (the caller answers with what
 * it gives when it cannot do the work, e.g. `recovered: false`).
 */
export class Turns {
  #free: number
  /** The tasks waiting, oldest first (a Set keeps its insertion order; one that gave up leaves it at once). */
  readonly #waiting = new Set<() => void>()

  constructor(
    size: number,
    private readonly maxWaiting: number,
    private readonly waitMs: number,
  ) {
    this.#free = size
  }

  /** How many tasks wait for a turn now (for tests and metrics). */
  get waiting(): number {
    return this.#waiting.size
  }

  /** Runs `task` once a turn is free; `refused` when the queue is full or the turn does not come within the wait. */
  async run<T, R>(task: () => Promise<T>, refused: R): Promise<T | R> {
    if (this.#free > 0) this.#free--
    else if (!(await this.#turn())) return refused
    try {
      return await task()
    } finally {
      this.#pass()
    }
  }

  /** Waits for a turn handed over by a task that ended: true when it came in time. */
  #turn(): Promise<boolean> {
    if (this.#waiting.size >= this.maxWaiting) return Promise.resolve(false)
    return new Promise((resolve) => {
      const granted = () => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(() => {
        this.#waiting.delete(granted)
        resolve(false)
      }, this.waitMs)
      this.#waiting.add(granted)
    })
  }

  /** Hands the turn to the oldest task still waiting, or frees it. */
  #pass(): void {
    const next = this.#waiting.values().next().value
    if (next === undefined) {
      this.#free++
      return
    }
    this.#waiting.delete(next)
    next()
  }
}
