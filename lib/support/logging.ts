import type { FastifyRequest } from 'fastify'

const TOKEN_KEYS = new Set(['token', 'access_token'])

function decodeKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '))
  } catch {
    return raw
  }
}

/** Three base64url segments: a JWT, whatever key it came under (or none). */
const LOOKS_LIKE_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/**
 * A URL with every token query value replaced, fit for a log line. Keys are
 * compared as the query parser reads them (`%74oken` and `token[]` are
 * `token` too), and anything shaped like a JWT goes whatever its key.
 */
export function redactUrl(url: string): string {
  const query = url.indexOf('?')
  if (query < 0) return url
  const pairs = url
    .slice(query + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const rawKey = eq < 0 ? pair : pair.slice(0, eq)
      const key = decodeKey(rawKey).trim().toLowerCase().replace(/\[\]$/, '')
      const value = eq < 0 ? '' : decodeKey(pair.slice(eq + 1))
      if (TOKEN_KEYS.has(key) || LOOKS_LIKE_JWT.test(value)) return `${rawKey}=[REDACTED]`
      if (LOOKS_LIKE_JWT.test(decodeKey(rawKey))) return '[REDACTED]'
      return pair
    })
  return `${url.slice(0, query + 1)}${pairs.join('&')}`
}

/**
 * Fastify's `req` log serializer with tokens taken out of the URL. The
 * standalone server uses it; a host that embeds the plugin passes it to its
 * own logger: `Fastify({ logger: { serializers: realtimeLogSerializers } })`.
 */
export const realtimeLogSerializers = {
  req(request: FastifyRequest) {
    return {
      method: request.method,
      url: redactUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort,
    }
  },
}
