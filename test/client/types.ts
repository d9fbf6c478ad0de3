/**
 * The typed client's types, checked by the compiler: `npx tsc --noEmit -p
 * tsconfig.json` (the first step of `npm test`) fails if any line below
 * stops compiling, or if a `@ts-expect-error` line starts compiling. Nothing
 * here runs.
 *
 * 1. client/protocol.ts, the wire types the client package carries without a
 *    schema library, are exactly the TypeBox types of schemas/ (one source).
 * 2. `on(type)` and `is(frame, type)` hand each type's handler that
 *    message's type; misuse does not compile.
 */
import type { Static } from '@sinclair/typebox'
import type * as Wire from '../../client/protocol.js'
import { isMessage, RealtimeClient, type Frame, type Resume } from '../../client/index.js'
import type * as Server from '../../schemas/server-messages.js'
import type * as Client from '../../schemas/client-messages.js'
import type { ChosenPresence, Presence } from '../../schemas/common.js'
import type { PresenceAnswer } from '../../schemas/http.js'
import type { ErrorCode } from '../../schemas/errors.js'

/** True only when A and B are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
/** Compiles only with `true`. */
function same<T extends true>(): T | void {}

same<Equal<Wire.Presence, Presence>>()
same<Equal<Wire.ChosenPresence, ChosenPresence>>()
same<Equal<Wire.ErrorCode, ErrorCode>>()
same<Equal<Wire.ConnectedMessage, Server.ConnectedMessage>>()
same<Equal<Wire.PongMessage, Server.PongMessage>>()
same<Equal<Wire.TypingStartEvent, Server.TypingStartEvent>>()
same<Equal<Wire.TypingStopEvent, Server.TypingStopEvent>>()
same<Equal<Wire.PresenceUpdateEvent, Server.PresenceUpdateEvent>>()
same<Equal<Wire.PresenceStateMessage, Server.PresenceStateMessage>>()
same<Equal<Wire.ErrorMessage, Server.ErrorMessage>>()
same<Equal<Wire.ServerMessage, Server.ServerMessage>>()
same<Equal<Wire.ServerMessageType, Server.ServerMessageType>>()
same<Equal<Wire.ApplicationEvent, Server.ApplicationEvent>>()
same<Equal<Wire.ClientMessage, Client.ClientMessage>>()
same<Equal<Wire.PresenceAnswer, PresenceAnswer>>()
same<Equal<Wire.PingMessage, Static<typeof Client.PingMessage>>>()
same<Equal<Wire.AuthRefreshMessage, Client.AuthRefreshMessage>>()
same<Equal<Wire.PresenceSubscribeMessage, Client.PresenceSubscribeMessage>>()
same<Equal<Wire.PresenceUnsubscribeMessage, Client.PresenceUnsubscribeMessage>>()
// @ts-expect-error the check is not vacuous: different types are not the same
same<Equal<Wire.Presence, ChosenPresence>>()

type Events = { 'note:new': { text: string; pinned?: boolean } }

export function onNarrows(client: RealtimeClient<Events>): void {
  client.on('presence:update', (m) => {
    const presence: Presence = m.data.presence
    void presence
  })
  client.on('connected', (m) => {
    const offset: string | undefined = m.data.offset
    void offset
  })
  client.on('presence:state', (m) => {
    const presences: Record<string, Presence> = m.data.presences
    void presences
  })
  client.on('note:new', (m) => {
    const text: string = m.data.text
    void text
  })
  client.once('typing:stop', (m) => {
    const channel: string = m.data.channel_id
    void channel
  })
  // Undeclared application events: open data, typed as such.
  client.on('thread:archived', (m) => {
    const data: Record<string, unknown> = m.data
    void data
  })
  // @ts-expect-error typing events carry no presence
  client.on('typing:start', (m) => m.data.presence)
  // @ts-expect-error a pong carries nothing
  client.on('pong', (m) => m.data.user_id)
  // @ts-expect-error a declared event's data is as declared
  client.on('note:new', (m) => m.data.title)
  // @ts-expect-error a presence in a presence:update is a Presence, not any string
  client.on('presence:update', (m) => ((m.data.presence satisfies 'away') as unknown))
  // @ts-expect-error undeclared events' fields are unknown, not any
  client.on('thread:archived', (m) => m.data.id.toUpperCase())
}

export function isNarrows(client: RealtimeClient<Events>): void {
  client.onMessage((frame) => {
    if (client.is(frame, 'presence:update')) {
      const presence: Presence = frame.data.presence
      void presence
    }
    if (client.is(frame, 'note:new')) {
      const text: string = frame.data.text
      void text
    }
    if (client.is(frame, 'error')) {
      const code: ErrorCode = frame.data.code
      void code
    }
    // @ts-expect-error narrowed to typing:start, there is no presence
    if (client.is(frame, 'typing:start')) void frame.data.presence
    // @ts-expect-error without narrowing, a frame's data may be any event's
    void frame.data.presence.length
  })
}

/** The standalone guard, for the protocol's own types. */
export function guardNarrows(frame: Frame): void {
  if (isMessage(frame, 'presence:update')) {
    const presence: Presence = frame.data.presence
    void presence
  }
  // @ts-expect-error a pong carries no user
  if (isMessage(frame, 'pong')) void frame.data.user_id
}

/** Missed events and presence subscriptions (issues 13 and 15). */
export function resumeAndSubscriptions(client: RealtimeClient<Events>): void {
  client.onResume((resume: Resume) => {
    const recovered: boolean = resume.recovered
    const since: string | undefined = resume.since
    void [recovered, since]
  })
  const offset: string | undefined = client.offset
  void offset
  client.subscribePresence(['5f1d7c6e8a9b0c1d2e3f4a5b'])
  client.subscribePresence(new Set(['5f1d7c6e8a9b0c1d2e3f4a5b']))
  client.unsubscribePresence(['5f1d7c6e8a9b0c1d2e3f4a5b'])
  const followed: ReadonlySet<string> = client.presenceSubscriptions
  void followed
  // @ts-expect-error the set is the client's: read it, change it with subscribePresence
  client.presenceSubscriptions.add('5f1d7c6e8a9b0c1d2e3f4a5b')
  // `url` may be a function, asked before every attempt.
  void new RealtimeClient({ url: () => 'wss://chat.example/ws', token: 't', since: offset })
}
