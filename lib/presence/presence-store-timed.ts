import type { PresenceRecord, PresenceStore } from './presence-store.js'

/** A presence store whose writes report how long each took (landed or failed), in seconds. */
export function timedWrites(store: PresenceStore, observe: (seconds: number) => void): PresenceStore {
  return {
    chosenPresence: (userId) => store.chosenPresence(userId),
    markOrphansOffline: (except, at) => store.markOrphansOffline(except, at),
    ping: () => store.ping(),
    async write(userId: string, record: PresenceRecord) {
      const started = performance.now()
      try {
        await store.write(userId, record)
      } finally {
        observe((performance.now() - started) / 1000)
      }
    },
  }
}
