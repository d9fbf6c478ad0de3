import type { RouteOptions } from 'fastify'

/** A route's OpenAPI security requirement: scheme names of OPENAPI_INFO's components. */
export type OpenApiSecurity = Array<Record<string, string[]>>

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route's security in the plugin's own document only. Not in its
     * `schema`: a host's own @fastify/swagger also reads the plugin's routes,
     * and its document has none of these schemes (it would throw building it).
     */
    openApiSecurity?: OpenApiSecurity
  }
}

/** The `transform` of the plugin's own @fastify/swagger: each route's `config.openApiSecurity` into its operation. */
export function withRouteSecurity({ schema, url, route }: { schema: unknown; url: string; route: RouteOptions }): { schema: unknown; url: string } {
  const security = (route.config as { openApiSecurity?: OpenApiSecurity } | undefined)?.openApiSecurity
  return { schema: security ? { ...(schema as object), security } : schema, url }
}

/**
 * The OpenAPI 3.1 document of the HTTP API: @fastify/swagger builds it from
 * the routes' own TypeBox schemas (the ones that validate and serialize), with
 * this frame around them. `/ws` is in the AsyncAPI document instead.
 */
export const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'Roomler Realtime HTTP API',
    version: '0.1.0',
    description:
      'Health, readiness, presence, metrics and event publishing beside the WebSocket protocol (see /asyncapi.json for /ws). Every refusal is JSON { error, message }.',
  },
  components: {
    securitySchemes: {
      accessToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A Roomler2 access token' },
      apiKey: { type: 'http', scheme: 'bearer', description: 'ROOMLER__REALTIME__API_KEY' },
      metricsKey: { type: 'http', scheme: 'bearer', description: 'ROOMLER__REALTIME__METRICS_KEY, when set' },
    },
  },
} as const

/** The document as text, as `generated/openapi.json` holds it. */
export function openApiText(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`
}
