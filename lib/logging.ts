import type { FastifyRequest } from 'fastify'

const TOKEN_KEYS = new Set(['token', 'access_token'])

function decodeKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '))
  } catch {
    return raw
  }
}

/**
 * A URL with every token query value replaced, fit for a log line. Keys are
 * compared as the query parser reads them (`%74oken` is `token` too).
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
      return TOKEN_KEYS.has(decodeKey(rawKey).trim().toLowerCase()) ? `${rawKey}=[REDACTED]` : pair
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
