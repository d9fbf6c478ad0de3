/**
 * The browser client when a refused upgrade tells it nothing (issue 11 item
 * 11): a browser's WebSocket reports no status, and a cross-origin page whose
 * probe is blocked learns none either. After a few such failures in a row the
 * client asks `getToken` anyway, and connects with the new token. Real
 * service; the WebSocket is `ws` with its error message hidden, as a browser
 * hides it, and the probe fails as a CORS-blocked fetch does.
 */
import t from 'tap'
import { WebSocket } from 'ws'
import { RealtimeClient, SILENT_FAILURES_BEFORE_NEW_TOKEN, type WebSocketLike } from '../../client/index.js'
import { build, objectId, signToken } from '../helper.js'

/** `ws` as a browser shows it: an error event without a message, so no status to read. */
class BrowserLikeWebSocket implements WebSocketLike {
  readonly #socket: WebSocket
  onopen: ((event: unknown) => void) | null = null
  onmessage: ((event: unknown) => void) | null = null
  onerror: ((event: unknown) => void) | null = null
  onclose: ((event: unknown) => void) | null = null

  constructor(url: string) {
    this.#socket = new WebSocket(url)
    this.#socket.on('open', () => this.onopen?.({}))
    this.#socket.on('message', (data) => this.onmessage?.({ data: data.toString() }))
    this.#socket.on('error', () => this.onerror?.({}))
    this.#socket.on('close', (code) => this.onclose?.({ code: code === 1005 ? 1006 : code, reason: '' }))
  }
  get readyState() {
    return this.#socket.readyState
  }
  send(data: string) {
    this.#socket.send(data)
  }
  close(code?: number, reason?: string) {
    this.#socket.close(code, reason)
  }
}

t.test('after a few failed upgrades with no readable status, getToken is asked and the new token connects', async (t) => {
  const built = await build(t)
  const user = objectId()
  let asked = 0
  const client = new RealtimeClient({
    url: built.wsUrl,
    token: signToken({ sub: user, exp: Math.floor(Date.now() / 1000) - 60 }),
    WebSocket: BrowserLikeWebSocket,
    fetch: () => Promise.reject(new TypeError('Failed to fetch')),
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    // Not ahead of `exp`: this token's expiry would send it to getToken before the first attempt.
    refreshAheadMs: false,
    getToken: () => {
      asked++
      return signToken({ sub: user })
    },
  })
  t.teardown(() => client.close())
  const failures: number[] = []
  const opened = new Promise<void>((resolve, reject) => {
    client.onState((change) => {
      if (change.state === 'reconnecting') failures.push(asked)
      if (change.state === 'open') resolve()
      if (change.state === 'closed') reject(new Error(`closed: ${JSON.stringify(change.reason)}`))
    })
  })
  client.connect()
  await opened
  t.equal(asked, 1, 'getToken was asked once')
  t.equal(failures.filter((n) => n === 0).length, SILENT_FAILURES_BEFORE_NEW_TOKEN - 1, `it retried ${SILENT_FAILURES_BEFORE_NEW_TOKEN - 1} times with the old token first`)
})
