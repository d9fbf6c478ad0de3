import type { ConnectionRegistry } from '../connections/registry.js'
import type { OnGap } from './history.js'

export interface GapLog {
  warn(obj: object, msg: string): void
}

/**
 * What an instance does when its reader finds events trimmed before it read
 * them: they may have been addressed to any of its connections, which would
 * otherwise go on as if nothing was missed. Each is closed with 1012 and
 * resumes; the resume says `recovered: false` for what is gone (it was
 * trimmed after their `since`). Counted, and logged once per gap.
 */
export function closeEveryConnectionOnGap(registry: ConnectionRegistry, log: GapLog, counted: (lost: number) => void = () => {}): OnGap {
  return (lost) => {
    counted(lost)
    let closed = 0
    for (const connection of [...registry.connections()]) {
      if (connection.closed) continue
      connection.close('SERVICE_RESTART')
      closed++
    }
    log.warn({ lost, closed }, 'fell behind the shared history: events were trimmed before they were read here; closed this instance’s connections (1012) so that they resume')
  }
}
