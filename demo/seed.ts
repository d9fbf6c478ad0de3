import type { RealtimeContext } from '../plugins/internals.js'
import { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'

/** A channel and its people, so that a fresh `npm start` has someone to talk to. */
export const DEMO_CHANNEL_ID = '64d000000000000000000001'
export const DEMO_USERS = [
  { id: '64d0000000000000000000a1', username: 'ada', email: 'ada@example.test' },
  { id: '64d0000000000000000000a2', username: 'grace', email: 'grace@example.test' },
  { id: '64d0000000000000000000a3', username: 'linus', email: 'linus@example.test' },
] as const

export interface DemoUser {
  id: string
  username: string
  email: string
  token: string
}

/** How long the printed demo tokens stay valid. */
const DEMO_TOKEN_TTL = '12h'

/**
 * Seeds the in-memory store with the demo channel and returns a token for
 * each demo user. Only for the development secret on the in-memory store.
 */
export function seedDemo(app: RealtimeContext): DemoUser[] {
  const membership = app.realtimeStores.membership
  if (!(membership instanceof MemoryMembershipStore)) throw new Error('the demo needs the in-memory store')
  const issuer = app.realtimeConfig.jwt.issuer
  return DEMO_USERS.map((user) => {
    membership.addMember(DEMO_CHANNEL_ID, user.id)
    const token = app.jwt.sign(
      { sub: user.id, email: user.email, username: user.username, iss: issuer, token_type: 'access' },
      { expiresIn: DEMO_TOKEN_TTL },
    )
    return { ...user, token }
  })
}
