import type { Audience, Broker } from './broker.js'
import type { MembershipCache } from '../membership/membership-cache.js'
import { normalizeId } from '../../schemas/common.js'
import { isReservedType } from '../protocol/reserved-types.js'

/** Any message the service sends: the protocol's own or an application event. */
export interface OutgoingMessage {
  type: string
  data: object
}

export interface ExcludeOptions {
  /** Users to leave out. */
  exclude?: Iterable<string>
}

const NO_ONE: ReadonlySet<string> = new Set()

function excluded(users: Iterable<string> | undefined): ReadonlySet<string> {
  if (!users) return NO_ONE
  const set = new Set<string>()
  for (const userId of users) set.add(normalizeId(userId))
  return set
}

/**
 * Sends messages to users wherever their connections are. Each message is
 * serialized once, whatever the number of recipients. It knows the broker's
 * interface, not how the broker reaches other instances. Ids are normalized
 * here, where they enter the library: a caller may spell them in either case.
 */
export class Dispatcher {
  constructor(
    private readonly broker: Broker,
    private readonly membership: MembershipCache,
  ) {}

  /** Every connection of one user. */
  sendToUser(userId: string, message: OutgoingMessage): void {
    this.publish({ users: [normalizeId(userId)] }, message)
  }

  /** Every connection of each of the users, once each however often (and in whichever case) a user is named. */
  broadcast(userIds: readonly string[], message: OutgoingMessage, options: ExcludeOptions = {}): void {
    this.publish({ users: [...new Set(userIds.map(normalizeId))], exclude: excluded(options.exclude) }, message)
  }

  /** Every connected user, less those excluded. */
  toEveryone(message: OutgoingMessage, options: ExcludeOptions = {}): void {
    this.publish({ everyone: true, exclude: excluded(options.exclude) }, message)
  }

  /** Every member of a channel (from the membership store), less those excluded. */
  async sendToChannel(channelId: string, message: OutgoingMessage, options: ExcludeOptions = {}): Promise<void> {
    const channel = normalizeId(channelId)
    const members = await this.membership.members(channel)
    this.publish({ users: members.list, exclude: excluded(options.exclude), channel }, message)
  }

  /** Forgets a channel's cached membership, so the next event reads it from the store. */
  dropChannel(channelId: string): void {
    this.broker.dropChannel(normalizeId(channelId))
  }

  /**
   * The one way out: `audience` holds normalized ids. An application event
   * (any type the protocol does not reserve) is serialized as `{type, data}`;
   * the broker gives it its offset (contract section 8).
   */
  publish(audience: Audience, message: OutgoingMessage): void {
    const type = message.type
    if (isReservedType(type)) {
      this.broker.publish(audience, { type, payload: JSON.stringify(message), publishedAt: performance.now() })
      return
    }
    const payload = JSON.stringify({ type, data: message.data })
    this.broker.publish(audience, { type, payload, publishedAt: performance.now(), application: true })
  }
}
