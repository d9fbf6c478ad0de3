/** Who is in a channel: read from Roomler2's `channel_members`. */
export interface MembershipStore {
  /** The user ids (24 lowercase hex digits) of the channel's members; empty for an unknown channel. */
  channelMembers(channelId: string): Promise<string[]>
  /** Resolves when the backing database answers; rejects when it does not. */
  ping(): Promise<void>
}
