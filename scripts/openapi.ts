/**
 * The OpenAPI document of the standalone HTTP API, as GET /openapi.json
 * serves it: the plugin on a bare Fastify (no listener, in-memory stores).
 */
import Fastify from 'fastify'
import realtime from '../app.js'
import { openApiText } from '../lib/docs/openapi.js'

export async function openApiFile(): Promise<[string, string]> {
  const app = Fastify({ logger: false })
  await app.register(realtime, { production: false, jwt: { secret: 'openapi-generation-only-0123456789' } })
  const answer = await app.inject({ method: 'GET', url: '/openapi.json' })
  await app.close()
  return ['openapi.json', openApiText(answer.json())]
}
