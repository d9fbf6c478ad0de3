import type { FastifyRequest } from 'fastify'

const TOKEN_PARAM = /([?&](?:token|access_token)=)[^&#]*/gi

/** A URL with every token query value replaced, fit for a log line. */
export function redactUrl(url: string): string {
  return url.replace(TOKEN_PARAM, '$1[REDACTED]')
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
