import type { PresenceService } from './presence.js'
import type { PresenceStore } from './presence-store.js'

export interface OrphanLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

const FIRST_RETRY_MS = 250
const MAX_RETRY_MS = 5000

/**
 * A single instance (no Redis) that starts finds no connection of any user,
 * so users the database still shows present had their connections die with
 * the previous process (SIGKILL, a crash): they are recorded offline. Retried
 * until the database answers; users connected by then are left alone.
 */
export function recoverOrphans(store: PresenceStore, presence: PresenceService, log: OrphanLog): { stop(): void; done: Promise<void> } {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let delay = FIRST_RETRY_MS
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => (finish = resolve))

  const attempt = () => {
    if (stopped) return finish()
    store.markOrphansOffline(presence.connectedUserIds(), new Date()).then(
      (count) => {
        if (count > 0) log.info({ count }, 'recorded offline the users whose connections died with the previous process')
        finish()
      },
      (error: unknown) => {
        if (delay === FIRST_RETRY_MS) log.warn({ err: error }, 'could not record orphaned presence yet; retrying')
        if (stopped) return finish()
        timer = setTimeout(attempt, delay)
        timer.unref()
        delay = Math.min(delay * 2, MAX_RETRY_MS)
      },
    )
  }
  attempt()
  return {
    done,
    stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      finish()
    },
  }
}
