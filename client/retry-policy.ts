/** What the client does after a drop or a refused upgrade: retry when, ask for a token when, give up when. */
import { CLOSE_POLICY_VIOLATION, CLOSE_TOKEN_EXPIRED } from './protocol.js'

/** Failed upgrades in a row with no readable status after which the client asks `getToken` anyway. */
export const SILENT_FAILURES_BEFORE_NEW_TOKEN = 3

/** Whether so many unexplained failed upgrades make the token the likely cause. */
export function tokenSuspect(silentFailures: number): boolean {
  return silentFailures >= SILENT_FAILURES_BEFORE_NEW_TOKEN
}

/** Close codes after which reconnecting cannot help. */
export const DO_NOT_RETRY: ReadonlySet<number> = new Set([CLOSE_POLICY_VIOLATION])
/** Upgrade refusals after which the same request cannot succeed. */
export const REFUSED_FOR_GOOD: ReadonlySet<number> = new Set([400, 401, 403])

export interface Backoff {
  initialDelayMs?: number
  maxDelayMs?: number
}

/** Jittered exponential backoff: a random delay in [cap/2, cap], cap = min(maxDelayMs, initialDelayMs · 2^(attempt-1)). */
export function backoffDelay(attempt: number, { initialDelayMs = 500, maxDelayMs = 30_000 }: Backoff = {}): number {
  const cap = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1))
  return Math.round(cap / 2 + (Math.random() * cap) / 2)
}

/** Node's `ws` says why a refused upgrade failed; a browser says nothing (the status stays unknown). */
export function statusOfError(message: string | undefined): number | undefined {
  const match = /Unexpected server response: (\d{3})/.exec(message ?? '')
  return match ? Number(match[1]) : undefined
}

/** After a drop or a refusal: reconnect after a backoff, ask `getToken` and reconnect at once, or stop for good. */
export type NextStep = 'retry' | 'new-token' | 'give-up'

/** After an open connection closed with `code`. */
export function stepAfterClose(code: number): NextStep {
  if (DO_NOT_RETRY.has(code)) return 'give-up'
  return code === CLOSE_TOKEN_EXPIRED ? 'new-token' : 'retry'
}

/**
 * After an upgrade failed, with its status when one could be learned. A
 * browser may learn no status at all (a proxy without CORS headers): after a
 * few such failures in a row the token is suspect too. A new token is asked
 * for once (`mayAskToken`); a second refusal is final.
 */
export function stepAfterFailedUpgrade(status: number | undefined, silentFailures: number, mayAskToken: boolean): NextStep {
  if ((status === 401 || tokenSuspect(silentFailures)) && mayAskToken) return 'new-token'
  if (status !== undefined && REFUSED_FOR_GOOD.has(status)) return 'give-up'
  return 'retry'
}
