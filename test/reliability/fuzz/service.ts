/**
 * The service the fuzz tests send to: one Roomler2 user, a member of one
 * channel, on a database of the test's own, with no rate limit in the way.
 */
import type { Test } from 'tap'
import type { Db } from 'mongodb'
import { build, mongoUrl, objectId, testDatabase, type BuiltApp } from '../../helper.js'
import { addMembers, channelMembersIndex, seedUsers } from '../../fixtures/roomler2.js'

const UNLIMITED = { rateLimitPerSec: 1_000_000, rateLimitBurst: 1_000_000, typingRatePerSec: 1_000_000 }

export interface Setup {
  built: BuiltApp
  db: Db
  userId: string
  channelId: string
}

export async function setup(t: Test, label: string): Promise<Setup> {
  const { name, db } = await testDatabase(t, label)
  const userId = objectId()
  const channelId = objectId()
  await channelMembersIndex(db)
  await addMembers(db, channelId, [userId])
  await seedUsers(db, [userId])
  const built = await build(t, { database: { url: mongoUrl(), name }, realtime: UNLIMITED })
  return { built, db, userId, channelId }
}
