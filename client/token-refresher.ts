/**
 * Asks for a new token a little before the current one expires, so that a
 * connection is extended by `auth:refresh` instead of being closed with 4001
 * and reopened. One request at a time; a failed `getToken` is asked again a
 * few seconds later while the token still has life left.
 */
import { refreshDelay, tokenTimes } from './token-expiry.js'

/** How long after a failed `getToken` the refresher asks again. */
const RETRY_MS = 5_000

export class TokenRefresher {
  #token: string | undefined
  #receivedAt = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #asking = false

  constructor(
    private readonly aheadMs: number,
    private readonly getToken: () => string | Promise<string>,
    private readonly deliver: (token: string) => Promise<void>,
  ) {}

  /** The client holds `token` now: schedule the ask for its successor. */
  track(token: string): void {
    if (token !== this.#token) {
      this.#token = token
      this.#receivedAt = Date.now()
    }
    this.#schedule(undefined)
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #schedule(delayMs: number | undefined): void {
    this.stop()
    const times = this.#token === undefined ? undefined : tokenTimes(this.#token)
    if (!times) return
    const now = Date.now()
    // Expired already: the upgrade's refusal (401, or 4001 on an open connection) asks for the next one, once.
    if (times.exp * 1000 <= now) return
    if (delayMs === undefined) delayMs = refreshDelay(times, this.#receivedAt, now, this.aheadMs)
    else if (times.exp * 1000 <= now + delayMs) return
    this.#timer = setTimeout(() => void this.#ask(), delayMs)
  }

  async #ask(): Promise<void> {
    this.#timer = undefined
    if (this.#asking) return
    this.#asking = true
    const asked = this.#token
    try {
      const token = await this.getToken()
      await this.deliver(token)
    } catch {
      if (this.#token === asked) this.#schedule(RETRY_MS)
    } finally {
      this.#asking = false
    }
  }
}
