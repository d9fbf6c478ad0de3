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
