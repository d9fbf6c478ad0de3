/**
 * Requests waiting on the server: pings wait for their pong (the server
 * answers pings in order), `auth:refresh` waits for its refusal or for the
 * pong of a ping sent after it. A dropped connection fails them all.
 */
import { RealtimeError } from './options.js'

interface PendingPing {
  sentAt: number
  resolve: (ms: number) => void
  reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout> | undefined
}

export class PendingPings {
  readonly #pings: PendingPing[] = []

  /** A ping just went out: `resolve` gets the round trip, `reject` the timeout. */
  add(timeoutMs: number, resolve: (ms: number) => void, reject: (error: Error) => void): void {
    const pending: PendingPing = { sentAt: Date.now(), resolve, reject, timer: undefined }
    pending.timer = setTimeout(() => {
      const index = this.#pings.indexOf(pending)
      if (index >= 0) this.#pings.splice(index, 1)
      reject(new RealtimeError(`no pong within ${timeoutMs} ms`))
    }, timeoutMs)
    this.#pings.push(pending)
  }

  /** A pong arrived: it answers the oldest ping. */
  answered(): void {
    const pending = this.#pings.shift()
    if (!pending) return
    clearTimeout(pending.timer)
    pending.resolve(Date.now() - pending.sentAt)
  }

  failAll(error: Error): void {
    for (const ping of this.#pings.splice(0)) {
      clearTimeout(ping.timer)
      ping.reject(error)
    }
  }
}

export class PendingRefreshes {
  readonly #refreshes: Array<(error: Error) => void> = []

  /** Resolves never; rejects when the server refuses this refresh (or the connection drops). Call the returned `done` when settled. */
  add(): { refused: Promise<never>; done: () => void } {
    let reject: (error: Error) => void = () => {}
    const refused = new Promise<never>((_, fail) => (reject = fail))
    this.#refreshes.push(reject)
    return {
      refused,
      done: () => {
        const index = this.#refreshes.indexOf(reject)
        if (index >= 0) this.#refreshes.splice(index, 1)
      },
    }
  }

  /** The server refused the oldest refresh still waiting. */
  refused(error: Error): void {
    this.#refreshes.shift()?.(error)
  }

  failAll(error: Error): void {
    for (const reject of this.#refreshes.splice(0)) reject(error)
  }
}
