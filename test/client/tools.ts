/**
 * Tools for the typed client's tests: a client on `ws` that records its
 * state changes and frames and is closed when the test ends, and waits on
 * its states and messages that fail after a timeout.
 */
import { WebSocket } from 'ws'
import { RealtimeClient, type ClientState, type RealtimeClientOptions, type StateChange } from '../../client/index.js'
import { WAIT_MS } from '../helper.js'

type Test = { teardown(fn: () => unknown): void }

export function recordedClient<E extends object = {}>(t: Test, options: Omit<RealtimeClientOptions, 'WebSocket'>) {
  const c = new RealtimeClient<E>({ WebSocket, ...options })
  const states: StateChange[] = []
  const messages: Array<{ type: string; data: any }> = []
  c.onState((change) => states.push(change))
  c.onMessage((message) => messages.push(message))
  t.teardown(() => c.close())
  return { c, states, messages, stateNames: () => states.map((s) => s.state) }
}

/** Resolves with the first state change matching `match`, failing after `timeoutMs`. */
export function nextState(c: RealtimeClient<any>, match: (change: StateChange) => boolean, what: string, timeoutMs = WAIT_MS): Promise<StateChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`no state change ${what} within ${timeoutMs} ms (state ${c.state})`))
    }, timeoutMs)
    const off = c.onState((change) => {
      if (!match(change)) return
      clearTimeout(timer)
      off()
      resolve(change)
    })
  })
}

export const stateIs = (state: ClientState) => (change: StateChange) => change.state === state

/** Resolves with the next message of `type` the client delivers that matches, failing after `timeoutMs`. */
export function nextMessage<T = any>(c: RealtimeClient<any>, type: string, match: (m: any) => boolean = () => true, timeoutMs = WAIT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`no ${type} within ${timeoutMs} ms`))
    }, timeoutMs)
    const off = c.on(type, (message) => {
      if (!match(message)) return
      clearTimeout(timer)
      off()
      resolve(message as T)
    })
  })
}

/** Resolves once `subscribe`'s listener is called with a value matching `match`, failing after `timeoutMs`. */
export function nextChange<T>(subscribe: (listener: (value: T) => void) => () => void, match: (value: T) => boolean, what: string, timeoutMs = WAIT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`no change ${what} within ${timeoutMs} ms`))
    }, timeoutMs)
    const off = subscribe((value) => {
      if (!match(value)) return
      clearTimeout(timer)
      off()
      resolve(value)
    })
  })
}

/** The application events the resume tests publish. */
export type Notes = { 'note:new': { text: string } }

/** A `note:new` event carrying `text`. */
export function note(text: string) {
  return { type: 'note:new', data: { text } }
}

/**
 * Publishes `note:new` events n0, n1, … through `publish`, one every
 * `everyMs`, until `stop()`: the traffic a drop happens in the middle of.
 * `texts` is every event published, in order.
 */
export function publisher(publish: (event: ReturnType<typeof note>) => unknown, everyMs = 10) {
  const texts: string[] = []
  const timer = setInterval(() => {
    const text = `n${texts.length}`
    texts.push(text)
    void publish(note(text))
  }, everyMs)
  return { texts, stop: () => clearInterval(timer) }
}
