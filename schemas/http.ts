import { Type, type Static } from '@sinclair/typebox'
import { Presence } from './common.js'

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
