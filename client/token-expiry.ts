/**
 * When to ask for a new token: a little before the token's `exp`. The client
 * reads the JWT's claims only for their times; it never verifies anything
 * (the server does). A token it cannot read is simply not refreshed ahead.
 */

export interface TokenTimes {
  /** Seconds since the epoch. */
  exp: number
  iat?: number
}

/** The `exp` (and `iat`) of a JWT, or undefined when it is not a JWT with a numeric `exp`. */
export function tokenTimes(token: string): TokenTimes | undefined {
  const payload = token.split('.')[1]
  if (!payload) return undefined
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/')
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as { exp?: unknown; iat?: unknown }
    if (typeof claims.exp !== 'number') return undefined
    return typeof claims.iat === 'number' ? { exp: claims.exp, iat: claims.iat } : { exp: claims.exp }
  } catch {
    return undefined
  }
}

/**
 * How long from now to ask for the next token, for a token the client got at
 * `receivedAt`. The life left is the smaller of what `exp` says by this
 * machine's clock and what `exp - iat` says since the token arrived, so a
 * skewed clock does not make the client late. It asks `aheadMs` before the
 * end, or halfway through the life left for a short-lived token.
 */
export function refreshDelay(times: TokenTimes, receivedAt: number, now: number, aheadMs: number): number {
  let left = times.exp * 1000 - now
  if (times.iat !== undefined) left = Math.min(left, (times.exp - times.iat) * 1000 - (now - receivedAt))
  if (left <= 0) return 0
  return Math.max(0, left - Math.min(aheadMs, left / 2))
}
