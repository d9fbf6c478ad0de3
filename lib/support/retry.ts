/** The backoff every retry of the service uses: 250 ms, doubling, at most 5 s. */
export const RETRY_FIRST_MS = 250
export const RETRY_MAX_MS = 5000

/** Delays that double from `firstMs` up to `maxMs`; `reset` after a success. */
export class Backoff {
  #delayMs: number

  constructor(
    private readonly firstMs = RETRY_FIRST_MS,
    private readonly maxMs = RETRY_MAX_MS,
  ) {
    this.#delayMs = firstMs
  }

  /** The delay to wait now; the next one is twice as long (up to the maximum). */
  next(): number {
    const delay = this.#delayMs
    this.#delayMs = Math.min(delay * 2, this.maxMs)
    return delay
  }

  reset(): void {
    this.#delayMs = this.firstMs
  }
}

export interface Retrying {
  /** Settles when an attempt succeeded, or when stopped. */
  done: Promise<void>
  stop(): void
}

/**
 * Runs `attempt` until it succeeds, waiting with the backoff between tries
 * (the timer does not keep the process alive). `onFailure` hears each
 * failure with its number (1 for the first), e.g. to log only the first.
 */
export function retryUntilDone(
  attempt: () => Promise<unknown>,
  onFailure: (error: unknown, failures: number) => void,
  backoff = new Backoff(),
): Retrying {
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let failures = 0
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => (finish = resolve))
  const run = () => {
    if (stopped) return finish()
    attempt().then(finish, (error: unknown) => {
      if (stopped) return finish()
      onFailure(error, ++failures)
      timer = setTimeout(run, backoff.next())
      timer.unref()
    })
  }
  run()
  return {
    done,
    stop() {
      stopped = true
      clearTimeout(timer)
      finish()
    },
  }
}
