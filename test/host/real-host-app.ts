/**
 * A host API as teams write one (issue 14's host-application suite), for
 * test/host/real-host*.test.ts: its own @fastify/jwt (whose secret signs the
 * realtime tokens), @fastify/websocket with a live route of its own,
 * fastify-metrics 13 serving prom-client's default registry at its /metrics,
 * @fastify/swagger, a global @fastify/rate-limit, a decorator, a hook, an
 * error handler and a 404 handler of its own, its own /health and REST
 * routes; all registered before roomler-realtime, which goes under
 * `prefix: '/realtime'`.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyWebsocket from '@fastify/websocket'
import fastifySwagger from '@fastify/swagger'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifyMetricsModule from 'fastify-metrics'
import realtime from '../../app.js'
import { MemoryMembershipStore } from '../../lib/membership/membership-store-memory.js'
import { ISSUER, connect, type TestClient } from '../helper.js'
import { capture } from './probe.js'

// A CommonJS package whose plugin is its `default` property (as an ES module host imports it).
const fastifyMetrics = fastifyMetricsModule.default

/** The host's own secret: nothing of the plugin's is configured with it. */
export const HOST_SECRET = 'the-host-api-own-jwt-secret-0123456789abcdef'
export const PUBLISH_KEY = 'host-publish-key-0123456789abcdef'
/** The host's global limit, per client per minute, and the plugin's own for /presence and /publish. */
export const HOST_RATE_LIMIT = 1000
export const REALTIME_RATE_LIMIT = 120

declare module 'fastify' {
  interface FastifyInstance {
    /** The host's own auth guard, as a host names it. */
    authenticate(request: FastifyRequest): Promise<void>
  }
}

export interface RealHost {
  app: FastifyInstance
  base: string
  wsBase: string
  membership: MemoryMembershipStore
  /** Every log line of the host's logger (level info). */
  logs: string[]
  /** An access token the host signs with its own @fastify/jwt. */
  sign(userId: string): string
  /** A client of the plugin's /realtime/ws, with a host-signed token. */
  connect(userId: string): Promise<TestClient>
}

type Test = { teardown(fn: () => unknown): void }

export async function realHost(t: Test): Promise<RealHost> {
  const { stream, lines } = capture()
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())

  await app.register(fastifyJwt, { secret: HOST_SECRET })
  await app.register(fastifyWebsocket)
  // Each test builds a host in this one process: the host's test setup clears prom-client's default registry.
  await app.register(fastifyMetrics, { endpoint: '/metrics', clearRegisterOnInit: true })
  await app.register(fastifySwagger, { openapi: { openapi: '3.1.0', info: { title: 'Host API', version: '2.3.4' } } })
  await app.register(fastifyRateLimit, { max: HOST_RATE_LIMIT, timeWindow: '1 minute' })

  app.decorate('authenticate', async (request: FastifyRequest) => {
    await request.jwtVerify()
  })
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-host-api', 'yes')
  })
  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown }, _request, reply) =>
    reply.code(error.statusCode ?? 500).send({ hostError: true, status: error.statusCode ?? 500, detail: error.message }),
  )
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ hostError: true, status: 404, detail: `no ${request.method} here` }))

  app.get('/health', async () => ({ host: 'healthy' }))
  app.get(
    '/api/items',
    { schema: { summary: 'The host’s items', response: { 200: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' } } } } } } },
    async () => [{ id: 1 }, { id: 2 }],
  )
  app.post(
    '/api/items',
    { schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } }, additionalProperties: false } } },
    async (request, reply) => reply.code(201).send(request.body),
  )
  app.get('/api/me', { onRequest: (request) => app.authenticate(request) }, async (request) => request.user)
  app.get('/api/boom', async () => {
    throw new Error('the host’s own failure')
  })
  app.get('/api/live', { websocket: true }, (socket) => {
    socket.send('host live')
    socket.on('message', (data) => socket.send(`host echo: ${data.toString()}`))
  })

  const membership = new MemoryMembershipStore()
  // No jwt.secret: the host's @fastify/jwt signs and checks; production, so the development secret is never a fallback.
  await app.register(realtime, {
    prefix: '/realtime',
    production: true,
    jwt: { issuer: ISSUER },
    stores: { membership },
    realtime: { apiKey: PUBLISH_KEY, httpRateLimitPerMin: REALTIME_RATE_LIMIT, maxPayloadBytes: 16384 },
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const sign = (userId: string) =>
    app.jwt.sign({ sub: userId, email: `${userId}@example.test`, username: 'someone', iss: ISSUER, token_type: 'access' }, { expiresIn: '1h' })
  const wsBase = `ws://127.0.0.1:${port}`
  return {
    app,
    base: `http://127.0.0.1:${port}`,
    wsBase,
    membership,
    logs: lines,
    sign,
    connect: (userId) => connect(t, `${wsBase}/realtime/ws`, sign(userId)),
  }
}
