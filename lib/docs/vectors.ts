/**
 * The golden frames: every message of the protocol both ways, valid and
 * invalid, as `npm run schemas` writes them into `generated/vectors/`. Every
 * language's generated decoder is tried on them (test/polyglot/), the
 * service is checked to send exactly the server ones it can (test/vectors.test.ts)
 * and to answer the client ones as `refusedWith` says, and the valid ones are
 * the `examples` of the published schemas. The ids are fixed so that a test
 * can reproduce a frame byte for byte.
 */
import type { Direction } from './json-schema.js'

/** What is wrong with an invalid frame: a decoder that validates that much refuses it. */
export type Fault =
  /** A required field is missing, or a field has the wrong JSON type. */
  | 'shape'
  /** A value outside a closed enum (a presence). */
  | 'enum'
  /** A string that breaks its pattern or length (an ObjectId, an empty token). */
  | 'format'
  /** A field the schema does not allow. */
  | 'extra'
  /** A `type` that is neither a protocol message nor an application event's. */
  | 'type'

export interface GoldenFrame {
  /** Stable and unique per direction: `typing-start`, `error-unknown-code`. */
  name: string
  direction: Direction
  /** The schema title a decoder should give it; absent for invalid frames. */
  variant?: string
  valid: boolean
  /** Invalid frames: what is wrong, and so which decoders refuse it. */
  fault?: Fault
  /** Client frames: the `error` code the service answers with (invalid ones, and those it does not handle yet). */
  refusedWith?: 'invalid_message' | 'unknown_type' | 'invalid_json'
  /** Contract features the service does not implement yet (see the report in README "Clients"). */
  pending?: 'history'
  note: string
  frame: unknown
}

/** The ids every golden frame uses. */
export const GOLDEN_IDS = {
  alice: '65f1c0ffee0123456789abcd',
  bob: '65f1c0ffee0123456789abce',
  channel: '65f1c0ffee00000000000001',
  /** A channel neither is a member of. */
  otherChannel: '65f1c0ffee00000000000002',
} as const
const { alice, bob, channel } = GOLDEN_IDS

type Entry = Omit<GoldenFrame, 'direction' | 'valid'> & { valid?: boolean }

const client: Entry[] = [
  { name: 'ping', variant: 'PingMessage', note: 'as Roomler2’s web client sends it, without data', frame: { type: 'ping' } },
  { name: 'ping-with-data', variant: 'PingMessage', note: 'the same with an empty data', frame: { type: 'ping', data: {} } },
  { name: 'typing-start', variant: 'TypingStartMessage', note: '', frame: { type: 'typing:start', data: { channel_id: channel } } },
  { name: 'typing-stop', variant: 'TypingStopMessage', note: '', frame: { type: 'typing:stop', data: { channel_id: channel } } },
  { name: 'presence-update-dnd', variant: 'PresenceUpdateMessage', note: '', frame: { type: 'presence:update', data: { presence: 'dnd' } } },
  { name: 'presence-update-invisible', variant: 'PresenceUpdateMessage', note: '', frame: { type: 'presence:update', data: { presence: 'invisible' } } },
  { name: 'auth-refresh', variant: 'AuthRefreshMessage', note: 'the token is any non-empty string to the schema; the service then verifies it', frame: { type: 'auth:refresh', data: { token: 'eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl' } } },
  { name: 'presence-subscribe', variant: 'PresenceSubscribeMessage', note: 'answered by presence:state', frame: { type: 'presence:subscribe', data: { user_ids: [alice, bob] } } },
  { name: 'presence-unsubscribe', variant: 'PresenceUnsubscribeMessage', note: '', frame: { type: 'presence:unsubscribe', data: { user_ids: [bob] } } },
  { name: 'presence-subscribe-empty', valid: false, fault: 'format', refusedWith: 'invalid_message', note: 'at least one id', frame: { type: 'presence:subscribe', data: { user_ids: [] } } },
  { name: 'presence-subscribe-bad-id', valid: false, fault: 'format', refusedWith: 'invalid_message', note: 'not an ObjectId', frame: { type: 'presence:subscribe', data: { user_ids: ['bob'] } } },
  { name: 'presence-offline', valid: false, fault: 'enum', refusedWith: 'invalid_message', note: 'a client cannot choose offline', frame: { type: 'presence:update', data: { presence: 'offline' } } },
  { name: 'typing-bad-channel', valid: false, fault: 'format', refusedWith: 'invalid_message', note: 'not an ObjectId', frame: { type: 'typing:start', data: { channel_id: 'general' } } },
  { name: 'typing-extra-field', valid: false, fault: 'extra', refusedWith: 'invalid_message', note: 'data carries exactly its fields', frame: { type: 'typing:start', data: { channel_id: channel, user_id: alice } } },
  { name: 'typing-no-data', valid: false, fault: 'shape', refusedWith: 'invalid_message', note: 'only ping may leave data out', frame: { type: 'typing:stop' } },
  { name: 'auth-refresh-empty-token', valid: false, fault: 'format', refusedWith: 'invalid_message', note: '', frame: { type: 'auth:refresh', data: { token: '' } } },
  { name: 'unknown-type', valid: false, fault: 'type', refusedWith: 'unknown_type', note: 'not a type a client may send', frame: { type: 'dance', data: {} } },
  { name: 'no-type', valid: false, fault: 'shape', refusedWith: 'invalid_message', note: '', frame: { data: {} } },
]

const server: Entry[] = [
  { name: 'connected', variant: 'ConnectedMessage', note: 'with the offset of the history’s end (section 8; an offset is opaque: `<epoch>-<ms>-<seq>` today)', frame: { type: 'connected', data: { user_id: alice, offset: '5f3c2a91be-1733120000000-0' } } },
  { name: 'connected-recovered', variant: 'ConnectedMessage', note: 'a resume with ?since= that the history still reaches: the offset is since itself', frame: { type: 'connected', data: { user_id: alice, offset: '5f3c2a91be-1733120000000-0', recovered: true } } },
  { name: 'connected-not-recovered', variant: 'ConnectedMessage', note: 'a resume the history no longer reaches (older than the window, or another history): nothing is replayed, the client refetches', frame: { type: 'connected', data: { user_id: alice, offset: '5f3c2a91be-1733120000000-4', recovered: false } } },
  { name: 'connected-without-offset', variant: 'ConnectedMessage', note: 'what a server without a history sends', frame: { type: 'connected', data: { user_id: alice } } },
  { name: 'pong', variant: 'PongMessage', note: '', frame: { type: 'pong', data: {} } },
  { name: 'typing-start', variant: 'TypingStartEvent', note: '', frame: { type: 'typing:start', data: { channel_id: channel, user_id: bob } } },
  { name: 'typing-stop', variant: 'TypingStopEvent', note: '', frame: { type: 'typing:stop', data: { channel_id: channel, user_id: bob } } },
  { name: 'presence-update-online', variant: 'PresenceUpdateEvent', note: '', frame: { type: 'presence:update', data: { user_id: bob, presence: 'online' } } },
  { name: 'presence-update-offline', variant: 'PresenceUpdateEvent', note: 'a user with no connection, or an invisible one, to others', frame: { type: 'presence:update', data: { user_id: bob, presence: 'offline' } } },
  { name: 'presence-state', variant: 'PresenceStateMessage', note: 'the answer to presence:subscribe, as alice gets it (her own real state, bob’s visible one)', frame: { type: 'presence:state', data: { presences: { [alice]: 'invisible', [bob]: 'idle' } } } },
  { name: 'presence-state-offline', variant: 'PresenceStateMessage', note: 'bob is offline, invisible, or no user at all: all three look the same', frame: { type: 'presence:state', data: { presences: { [bob]: 'offline' } } } },
  { name: 'error-invalid-message', variant: 'ErrorMessage', note: 'with request_type and details', frame: { type: 'error', data: { code: 'invalid_message', message: 'typing:start: /data/channel_id: expected an ObjectId (24 hex digits)', request_type: 'typing:start', details: { field: '/data/channel_id', reason: 'expected an ObjectId (24 hex digits)' } } } },
  { name: 'error-forbidden', variant: 'ErrorMessage', note: '', frame: { type: 'error', data: { code: 'forbidden', message: `you are not a member of channel ${GOLDEN_IDS.otherChannel}`, request_type: 'typing:start' } } },
  { name: 'error-invalid-json', variant: 'ErrorMessage', note: 'no request_type: the frame had no type to name', frame: { type: 'error', data: { code: 'invalid_json', message: 'the frame is not valid JSON' } } },
  { name: 'error-unknown-code', variant: 'ErrorMessage', note: 'a code this version does not know: a client must still decode it', frame: { type: 'error', data: { code: 'quota_exceeded', message: 'a code added in a later version' } } },
  { name: 'application-event', variant: 'ApplicationEvent', note: 'pushed by the application, with its offset (section 8)', frame: { type: 'note:new', data: { text: 'hello', channel_id: channel, mentions: [bob], meta: { pinned: false, edits: 0 } }, offset: '5f3c2a91be-1733120000001-0' } },
  { name: 'application-event-without-offset', variant: 'ApplicationEvent', note: 'what a server without a history sends', frame: { type: 'message:new', data: { text: 'hello' } } },
  { name: 'presence-update-away', valid: false, fault: 'enum', note: 'away is no presence', frame: { type: 'presence:update', data: { user_id: alice, presence: 'away' } } },
  { name: 'typing-start-no-user', valid: false, fault: 'shape', note: 'user_id is required', frame: { type: 'typing:start', data: { channel_id: channel } } },
  { name: 'connected-user-number', valid: false, fault: 'shape', note: 'user_id is a string', frame: { type: 'connected', data: { user_id: 42 } } },
  { name: 'error-no-message', valid: false, fault: 'shape', note: 'message is required', frame: { type: 'error', data: { code: 'forbidden' } } },
  { name: 'application-event-data-array', valid: false, fault: 'shape', note: 'data is an object', frame: { type: 'note:new', data: ['hello'] } },
  { name: 'no-type', valid: false, fault: 'shape', note: '', frame: { data: {} } },
  { name: 'typing-bad-user', valid: false, fault: 'format', note: 'not an ObjectId', frame: { type: 'typing:stop', data: { channel_id: channel, user_id: 'bob' } } },
  { name: 'pong-extra-field', valid: false, fault: 'extra', note: '', frame: { type: 'pong', data: { at: 1 } } },
  { name: 'reserved-type', valid: false, fault: 'type', note: 'typing:* is the protocol’s: no application event, and no typing message either', frame: { type: 'typing:pause', data: {} } },
]

function complete(direction: Direction, entries: Entry[]): GoldenFrame[] {
  return entries.map(({ valid = true, ...entry }) => ({ ...entry, direction, valid }))
}

/** Every golden frame one way, valid ones first. */
export function goldenFrames(direction: Direction): GoldenFrame[] {
  return complete(direction, direction === 'client' ? client : server)
}

/** The valid frames of one schema (by title): its `examples`. */
export function examplesOf(direction: Direction, variant: string): unknown[] {
  return goldenFrames(direction)
    .filter((golden) => golden.valid && golden.variant === variant)
    .map((golden) => golden.frame)
}
