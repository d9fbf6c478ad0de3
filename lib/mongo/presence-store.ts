import { ObjectId, type Collection, type Db } from 'mongodb'
import { isChosenPresence, type ChosenPresence } from '../../schemas/common.js'
import type { PresenceRecord, PresenceStore } from '../presence/presence-store.js'

interface UserDoc {
  _id: ObjectId
  presence?: string
  chosen_presence?: string
  last_active_at?: Date
  presence_changed_at?: Date
}

/** Matches a record whose stored change is not newer than `at` (or has none). */
function notNewerThan(at: Date) {
  return { $or: [{ presence_changed_at: { $exists: false } }, { presence_changed_at: { $lte: at } }] }
}

/** Presence fields of Roomler2's `users` collection; every other field is left untouched. */
export class MongoPresenceStore implements PresenceStore {
  readonly #users: Collection<UserDoc>

  constructor(private readonly db: Db) {
    this.#users = db.collection<UserDoc>('users')
  }

  async chosenPresence(userId: string): Promise<ChosenPresence | undefined> {
    const doc = await this.#users.findOne({ _id: new ObjectId(userId) }, { projection: { _id: 0, chosen_presence: 1 } })
    const chosen = doc?.chosen_presence
    return isChosenPresence(chosen) ? chosen : undefined
  }

  async write(userId: string, record: PresenceRecord): Promise<void> {
    const set: Partial<UserDoc> = {}
    if (record.presence !== undefined) set.presence = record.presence
    if (record.chosenPresence !== undefined) set.chosen_presence = record.chosenPresence
    if (record.lastActiveAt !== undefined) set.last_active_at = record.lastActiveAt
    if (Object.keys(set).length === 0) return
    const _id = new ObjectId(userId)
    // No upsert: users are Roomler2's to create.
    if (record.changedAt === undefined) {
      await this.#users.updateOne({ _id }, { $set: set })
      return
    }
    set.presence_changed_at = record.changedAt
    await this.#users.updateOne({ _id, ...notNewerThan(record.changedAt) }, { $set: set })
  }

  async markOrphansOffline(except: readonly string[], at: Date): Promise<number> {
    const result = await this.#users.updateMany(
      { presence: { $exists: true, $ne: 'offline' }, _id: { $nin: except.map((id) => new ObjectId(id)) }, ...notNewerThan(at) },
      { $set: { presence: 'offline', last_active_at: at, presence_changed_at: at } },
    )
    return result.modifiedCount
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 })
  }
}
