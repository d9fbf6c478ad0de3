/**
 * Every Redis key and channel the instances share, under one prefix. A user
 * is present while `u:<user>` (the instances holding them) is not empty.
 */
export class RedisKeys {
  constructor(readonly prefix = 'roomler:rt:') {}
  /** Sorted set: instance id → last heartbeat (ms). */
  get instances() {
    return `${this.prefix}I`
  }
  /** Hash: user id → chosen presence, while the user is present anywhere. */
  get presence() {
    return `${this.prefix}p`
  }
  /** String `<presence> <chosen at ms>`: the user's newest choice, kept beside the database (see ClusterPresence). */
  choice(userId: string) {
    return `${this.prefix}c:${userId}`
  }
  /** Set: the users present on an instance. */
  usersOf(instanceId: string) {
    return `${this.prefix}i:${instanceId}`
  }
  /** Set: the instances holding a user. */
  instancesOf(userId: string) {
    return `${this.prefix}u:${userId}`
  }
  /** Hash {o: owner, e: expires at}: a user typing in a channel. */
  typing(channelId: string, userId: string) {
    return `${this.prefix}t:${channelId}:${userId}`
  }
  /** String: the user's typing bucket across instances (TYPING_RATE_PER_SEC), as the time it is next full, in µs. */
  typingRate(userId: string) {
    return `${this.prefix}tr:${userId}`
  }
  /** Set of `channel:user`: the typists an instance owns, so that its death or shutdown ends them. */
  typistsOf(instanceId: string) {
    return `${this.prefix}ti:${instanceId}`
  }
  /** Stream: the application events, shared history and transport (contract section 8). */
  get history() {
    return `${this.prefix}h`
  }
  /** String: the epoch of the history stream (a Redis that restarted empty gets a new one). */
  get historyEpoch() {
    return `${this.prefix}he`
  }
  /** Integer: how many entries were appended to the history stream; each entry's id ends with its count. */
  get historyCount() {
    return `${this.prefix}hn`
  }
  /** Hash: instance id → the last history entry its reader delivered (the trim keeps what a live reader still needs). */
  get historyReaders() {
    return `${this.prefix}hr`
  }
  /** Channel every instance hears. */
  get everyone() {
    return `${this.prefix}all`
  }
  /** Channel of one user's presence changes (PRESENCE_SCOPE=subscribed): the instances watching the user hear it. */
  presenceOf(userId: string) {
    return `${this.presenceChannels}${userId}`
  }
  /** What every user's presence channel starts with. */
  get presenceChannels() {
    return `${this.prefix}pu:`
  }
  /** Channel one instance hears. */
  inbox(instanceId: string) {
    return `${this.prefix}inst:${instanceId}`
  }
}
