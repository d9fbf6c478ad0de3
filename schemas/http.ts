import { Type, type Static } from '@sinclair/typebox'
import { ObjectId, Presence } from './common.js'

/** Most ids one GET /presence may ask about. */
export const MAX_PRESENCE_IDS = 200

export const PresenceQuery = Type.Object(
  {
    user_ids: Type.String({ minLength: 1, description: `Comma-separated ObjectIds, at most ${MAX_PRESENCE_IDS}` }),
  },
  { additionalProperties: false },
)
export type PresenceQuery = Static<typeof PresenceQuery>

export const PresenceAnswer = Type.Object(
  {
    presences: Type.Record(Type.String(), Presence, {
      description: 'Visible presence by user id (the asker’s own is real); unknown ids are offline',
    }),
  },
  { additionalProperties: false },
)
export type PresenceAnswer = Static<typeof PresenceAnswer>

/** Most users one POST /publish may name, or leave out. */
export const MAX_PUBLISH_USERS = 10000
/** Longest event type an application may push. */
export const MAX_EVENT_TYPE_LENGTH = 64

/** The type of an event the application pushes: a short name such as `message:new`. */
export const EventType = Type.String({
  minLength: 1,
  maxLength: MAX_EVENT_TYPE_LENGTH,
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$',
  description: 'The event type: a letter or digit, then letters, digits, `_`, `.`, `:` or `-`; not a type the protocol reserves',
  errorMessage: `expected a type of 1 to ${MAX_EVENT_TYPE_LENGTH} letters, digits, "_", ".", ":" or "-", starting with a letter or digit`,
  examples: ['message:new'],
})

/**
 * `POST /publish`: one event and its recipients, named by exactly one of
 * `user_ids`, `channel_id` or `everyone` (the handler enforces the "exactly one").
 */
export const PublishBody = Type.Object(
  {
    type: EventType,
    data: Type.Record(Type.String(), Type.Unknown(), {
      description: 'The event’s payload, delivered to clients as is',
      errorMessage: 'expected a JSON object',
    }),
    user_ids: Type.Optional(
      Type.Array(ObjectId, {
        minItems: 1,
        maxItems: MAX_PUBLISH_USERS,
        uniqueItems: true,
        description: 'Every connection of each of these users',
      }),
    ),
    channel_id: Type.Optional(Type.String({ ...ObjectId, description: 'Every member of this channel (from channel_members)' })),
    everyone: Type.Optional(Type.Literal(true, { description: 'Every connected user', errorMessage: 'expected true' })),
    exclude_user_ids: Type.Optional(
      Type.Array(ObjectId, { maxItems: MAX_PUBLISH_USERS, description: 'Users left out, whichever recipients were named' }),
    ),
  },
  { additionalProperties: false },
)
export type PublishBody = Static<typeof PublishBody>

export const PublishAnswer = Type.Object({ accepted: Type.Literal(true) }, { additionalProperties: false })
export type PublishAnswer = Static<typeof PublishAnswer>

export const HealthAnswer = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false })
export type HealthAnswer = Static<typeof HealthAnswer>

const DependencyState = Type.Union([Type.Literal('ok'), Type.Literal('down'), Type.Literal('memory'), Type.Literal('none')], {
  description: 'ok, down, memory (the in-memory store), none (no Redis: one instance)',
})

export const ReadyAnswer = Type.Object(
  {
    status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
    dependencies: Type.Object({ database: DependencyState, redis: DependencyState }, { additionalProperties: false }),
  },
  { additionalProperties: false },
)
export type ReadyAnswer = Static<typeof ReadyAnswer>
