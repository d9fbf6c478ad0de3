/**
 * What the presence-scope tests share (contract section 5, "Presence scope"):
 * subscribing and waiting for the answer, and proving what a client was not
 * told. Absence is proven after a positive receipt of the same change
 * elsewhere and a ping round trip on the client that must not have it.
 */
import type { Test } from 'tap'
import type { ServerMessage, TestClient } from '../helper.js'
import { described, isPresence } from '../fixtures/messages.js'

export const isState = described('presence:state', (m) => m.type === 'presence:state')
export const isError = described('error', (m) => m.type === 'error')

/** Sends presence:subscribe and returns the presence:state that answers it. */
export async function subscribe(client: TestClient, userIds: string[]): Promise<Record<string, string>> {
  client.send({ type: 'presence:subscribe', data: { user_ids: userIds } })
  const answer = await client.next((m) => m.type === 'presence:state' || m.type === 'error')
  if (answer.type === 'error') throw new Error(`presence:subscribe refused: ${JSON.stringify(answer.data)}`)
  return answer.data.presences
}

/** Sends presence:subscribe and returns the error that refuses it. */
export async function refusedSubscribe(client: TestClient, userIds: string[]): Promise<ServerMessage['data']> {
  client.send({ type: 'presence:subscribe', data: { user_ids: userIds } })
  const answer = await client.next((m) => m.type === 'presence:state' || m.type === 'error')
  if (answer.type !== 'error') throw new Error(`presence:subscribe was accepted: ${JSON.stringify(answer.data)}`)
  return answer.data
}

/** Sends presence:unsubscribe; a ping round trip proves it was handled (and refused nothing). */
export async function unsubscribe(client: TestClient, userIds: string[]): Promise<void> {
  client.send({ type: 'presence:unsubscribe', data: { user_ids: userIds } })
  const before = await client.sync()
  const errors = before.filter((m) => m.type === 'error')
  if (errors.length > 0) throw new Error(`presence:unsubscribe refused: ${JSON.stringify(errors)}`)
}

/** Proves that none of `clients` was told anything of `userId`'s presence since their last read. */
export async function toldNothingOf(t: Test, clients: Record<string, TestClient>, userId: string, what: string): Promise<void> {
  for (const [name, client] of Object.entries(clients)) {
    t.same((await client.sync()).filter(isPresence(userId)), [], `${name}: ${what}`)
  }
}

/** Each of `clients` is told next that `userId` is now `presence`. */
export async function told(t: Test, clients: Record<string, TestClient>, userId: string, presence: string, what: string): Promise<void> {
  for (const [name, client] of Object.entries(clients)) {
    t.same((await client.next(isPresence(userId))).data.presence, presence, `${name}: ${what}`)
  }
}
