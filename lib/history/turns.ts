/**
 * Turns for at most `size` tasks at once; the others wait, in order, within
 * bounds: at most `maxWaiting` of them, each at most `waitMs`. A queue
 * without bound is memory and latency without bound: past either, the task
 * is not run and `run` resolves to `refused` (the caller answers with what
 * it gives when it cannot do the work, e.g. `recovered: false`).
 */
export class Turns {
  #free: number
  /** The tasks waiting, oldest first (a Map keeps its insertion order; one that gave up leaves it at once): how to hand it the turn, and whether it is still wanted. */
  readonly #waiting = new Map<(granted: boolean) => void, () => boolean>()

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

  /**
   * Runs `task` once a turn is free; `refused` when the queue is full, the
   * turn does not come within the wait, or the task is no longer `wanted`
   * (its connection closed) by then: a waiter nobody wants gives its place
   * up, so that abandoned resumes cannot fill the queue.
   */
  async run<T, R>(task: () => Promise<T>, refused: R, wanted: () => boolean = () => true): Promise<T | R> {
    if (this.#free > 0) this.#free--
    else if (!(await this.#turn(wanted))) return refused
    try {
      return await task()
    } finally {
      this.#pass()
    }
  }

  /** Waits for a turn handed over by a task that ended: true when it came in time. */
  #turn(wanted: () => boolean): Promise<boolean> {
    if (this.#waiting.size >= this.maxWaiting) this.#dropUnwanted()
    if (this.#waiting.size >= this.maxWaiting) return Promise.resolve(false)
    return new Promise((resolve) => {
      const handOver = (granted: boolean) => {
        clearTimeout(timer)
        resolve(granted)
      }
      const timer = setTimeout(() => {
        this.#waiting.delete(handOver)
        resolve(false)
      }, this.waitMs)
      this.#waiting.set(handOver, wanted)
    })
  }

  /** Hands the turn to the oldest task still waiting and wanted (refusing the unwanted ones it passes), or frees it. */
  #pass(): void {
    for (const [handOver, wanted] of this.#waiting) {
      this.#waiting.delete(handOver)
      if (wanted()) return handOver(true)
      handOver(false)
    }
    this.#free++
  }

  #dropUnwanted(): void {
    for (const [handOver, wanted] of this.#waiting) {
      if (wanted()) continue
      this.#waiting.delete(handOver)
      handOver(false)
    }
  }
}
