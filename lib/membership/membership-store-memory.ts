import type { MembershipStore } from './membership-store.js'

/** The embedded default membership: channels held in memory, filled by the host or the demo. */
export class MemoryMembershipStore implements MembershipStore {
  readonly #channels = new Map<string, Set<string>>()

  addMember(channelId: string, userId: string): void {
    let members = this.#channels.get(channelId)
    if (!members) this.#channels.set(channelId, (members = new Set()))
    members.add(userId)
  }

  removeMember(channelId: string, userId: string): void {
    this.#channels.get(channelId)?.delete(userId)
  }

  async channelMembers(channelId: string): Promise<string[]> {
    return [...(this.#channels.get(channelId) ?? [])]
  }

  async ping(): Promise<void> {}
}
