import { ObjectId, type Collection, type Db } from 'mongodb'
import type { MembershipStore } from '../membership/membership-store.js'

interface ChannelMemberDoc {
  channel_id: ObjectId
  user_id: ObjectId
}

/** Channel membership from Roomler2's `channel_members` collection. */
export class MongoMembershipStore implements MembershipStore {
  readonly #members: Collection<ChannelMemberDoc>

  constructor(private readonly db: Db) {
    this.#members = db.collection<ChannelMemberDoc>('channel_members')
  }

  async channelMembers(channelId: string): Promise<string[]> {
    const docs = await this.#members
      .find({ channel_id: new ObjectId(channelId) }, { projection: { _id: 0, user_id: 1 } })
      .toArray()
    const ids: string[] = []
    for (const doc of docs) if (doc.user_id instanceof ObjectId) ids.push(doc.user_id.toHexString())
    return ids
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 })
  }
}
