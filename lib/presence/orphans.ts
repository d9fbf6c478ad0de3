import type { PresenceService } from './presence.js'
import type { PresenceStore } from './presence-store.js'
import { retryUntilDone, type Retrying } from '../support/retry.js'

export interface OrphanLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/**
 * An instance that starts alone (no Redis, or no other live instance sharing
 * it) finds no connection of any user, so users the database still shows
 * present had their connections die with the previous processes (SIGKILL, a
 * crash of the whole cluster): they are recorded offline. Retried
 * until the database answers; users connected here by then are left alone,
 * and so is every presence changed after this instance started: while the
 * database was down another instance may have joined, and its users'
 * presence is written after that start, never before.
 */
export function recoverOrphans(store: PresenceStore, presence: PresenceService, log: OrphanLog): Retrying {
  const startedAt = new Date()
  return retryUntilDone(
    async () => {
      const count = await store.markOrphansOffline(presence.connectedUserIds(), startedAt)
      if (count > 0) log.info({ count }, 'recorded offline the users whose connections died with the previous process')
    },
    (error, failures) => {
      if (failures === 1) log.warn({ err: error }, 'could not record orphaned presence yet; retrying')
    },
  )
}
