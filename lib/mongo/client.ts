import { MongoClient } from 'mongodb'
import { retryUntilDone } from '../support/retry.js'

/** How long a database call may wait for a server before it fails (and the client gets `unavailable`). */
const SERVER_SELECTION_TIMEOUT_MS = 3000

export interface MongoConnectLog {
  warn(obj: object, msg: string): void
}

/**
 * A MongoDB client connected in the background, so that the service starts
 * (and serves) while the database is down. A failed first connect leaves the
 * driver's topology closed for good, so it is retried until it succeeds.
 * `close` stops the retries and closes the client.
 */
export function connectInBackground(url: string, log: MongoConnectLog): { client: MongoClient; close(): Promise<void> } {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS })
  const connecting = retryUntilDone(
    () => client.connect(),
    (error, failures) => {
      if (failures === 1) log.warn({ err: error }, 'MongoDB is not reachable yet; retrying')
    },
  )
  return {
    client,
    close() {
      connecting.stop()
      return client.close(true)
    },
  }
}
