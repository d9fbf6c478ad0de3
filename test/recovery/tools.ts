/**
 * What the tests of contract section 8 (missed events) share: a connection
 * that resumes with `?since=`, and the application events a connection
 * received, in order.
 */
import type { Test } from 'tap'
import { connect, type BuiltApp, type ServerMessage, type TestClient } from '../helper.js'
import { isReservedType } from '../../lib/protocol/reserved-types.js'

export interface Resumed {
  client: TestClient
  connected: ServerMessage
}

/** Opens /ws with `since` (raw query text when `raw`) and waits for `connected`. */
export async function resume(t: Test, app: BuiltApp, userId: string, since: string, raw = false): Promise<Resumed> {
  const query = raw ? since : `since=${encodeURIComponent(since)}`
  const client = await connect(t, app.wsUrl, app.token(userId), { query, awaitConnected: false })
  const connected = await client.next('connected')
  return { client, connected }
}

/** Whether a message is an application event (any type the protocol does not reserve). */
export function isApplication(message: ServerMessage): boolean {
  return !isReservedType(message.type)
}

/** The application events a connection received so far, as `type:text` (what the tests publish carries a text). */
export function applicationEvents(client: TestClient): string[] {
  return client.received.filter(isApplication).map((m) => String(m.data.text))
}

/** The offsets of the application events a connection received so far. */
export function offsets(client: TestClient): string[] {
  return client.received.filter(isApplication).map((m) => (m as ServerMessage & { offset: string }).offset)
}

/** Waits until the connection has received an application event with this text. */
export function until(client: TestClient, text: string) {
  return client.next((m) => isApplication(m) && m.data.text === text)
}

/** An application event carrying `text`. */
export function note(text: string) {
  return { type: 'note:new', data: { text } }
}

/** Calls `publish` on every turn of the event loop (while a resume opens, settles and replays) until the returned stop. */
export function pumpEvents(publish: () => void): () => void {
  let on = true
  const turn = () => {
    if (!on) return
    publish()
    setImmediate(turn)
  }
  setImmediate(turn)
  return () => {
    on = false
  }
}
