import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest()

/**
 * A check of `Authorization: Bearer <key>` against a configured key, in
 * constant time: digests of both sides have the same length, so the
 * comparison leaks neither the key nor its length.
 */
export function bearerKeyCheck(key: string): (authorization: string | undefined) => 'ok' | 'missing' | 'wrong' {
  const expected = digest(key)
  return (authorization) => {
    const match = /^Bearer +(\S+)$/i.exec(authorization ?? '')
    if (!match) return 'missing'
    return timingSafeEqual(digest(match[1]!), expected) ? 'ok' : 'wrong'
  }
}
