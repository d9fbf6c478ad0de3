import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest()

/**
 * The credential of `Authorization: Bearer <credential>`, or undefined: the
 * one rule every route reads the header by (an access token on /ws and
 * /presence, a key on /publish and /metrics). The scheme in any case, then
 * one or more spaces (RFC 9110's 1*SP: no tab), then one credential with
 * nothing after it.
 */
export function bearerCredential(authorization: string | undefined): string | undefined {
  return /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1]
}

/**
 * A check of `Authorization: Bearer <key>` against a configured key, in
 * constant time: digests of both sides have the same length, so the
 * comparison leaks neither the key nor its length.
 */
export function bearerKeyCheck(key: string): (authorization: string | undefined) => 'ok' | 'missing' | 'wrong' {
  const expected = digest(key)
  return (authorization) => {
    const credential = bearerCredential(authorization)
    if (credential === undefined) return 'missing'
    return timingSafeEqual(digest(credential), expected) ? 'ok' : 'wrong'
  }
}
