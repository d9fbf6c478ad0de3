/**
 * A browser page's code against the installed roomler-realtime-client only:
 * DOM types, bundler resolution, no Node types, the WebSocket the page's
 * global scope provides. test/client/package.test.ts copies it into a fresh
 * project, type-checks it, and runs it against the live service.
 */
import { PresenceMap, RealtimeClient, TypingSet, type ClientState, type Presence } from 'roomler-realtime-client'

type Events = { 'note:new': { text: string } }

export interface PageResult {
  userId: string | undefined
  note: string
  ownPresence: Presence
  states: ClientState[]
  pinged: boolean
  typingHelper: string
}

/** Connects, sets its presence, tells `ready`, waits for one pushed note, pings, closes. */
export async function main(url: string, token: string, ready: () => void): Promise<PageResult> {
  const client = new RealtimeClient<Events>({ url, token, heartbeat: { idleMs: 5000 } })
  const presence = new PresenceMap(client)
  const typing = new TypingSet(client)
  const states: ClientState[] = []
  client.onState((change) => states.push(change.state))
  const note = new Promise<string>((resolve) => client.once('note:new', (message) => resolve(message.data.text)))
  client.connect()
  await client.ready()
  const dnd = new Promise<Presence>((resolve) => presence.onChange((change) => change.presence === 'dnd' && resolve(change.presence)))
  client.setPresence('dnd')
  const ownPresence = await dnd
  ready()
  const text = await note
  const pinged = (await client.ping()) >= 0
  client.close()
  return { userId: client.userId, note: text, ownPresence, states, pinged, typingHelper: typeof typing.typing }
}

/** Never called: each line is a misuse the package's declarations must refuse. */
export function misuses(client: RealtimeClient<Events>): void {
  // @ts-expect-error offline cannot be chosen
  client.setPresence('offline')
  // @ts-expect-error a note has a text, no title
  client.on('note:new', (message) => message.data.title)
  // @ts-expect-error typing events carry no presence
  client.on('typing:start', (message) => message.data.presence)
}
