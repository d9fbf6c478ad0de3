/**
 * A host API as a user writes one, against the installed package only: its
 * own routes and its own @fastify/jwt, Roomler Realtime registered beside
 * them, a token the host signs, the package's client connecting with it, and
 * an event pushed through `app.wsDispatcher`. test/package.test.ts copies it
 * into a fresh project, type-checks it with tsc, runs the JavaScript and reads
 * the RESULT line it prints.
 */
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { WebSocket } from 'ws'
import realtime, { CloseCode, ConfigError, realtimeLogSerializers, type OutgoingMessage, type RealtimePluginOptions } from 'roomler-realtime'
import { RealtimeConfig, ServerMessage } from 'roomler-realtime/schemas'
import { RealtimeClient } from 'roomler-realtime/client'

const SECRET = 'the-host-api-own-secret-0123456789abcdef'
const USER = '64d0000000000000000000a1'
const WAIT_MS = 10_000

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${WAIT_MS} ms`)), WAIT_MS)
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error)),
    )
  })
}

const app = Fastify({ logger: { level: 'warn', serializers: realtimeLogSerializers } })
await app.register(fastifyJwt, { secret: SECRET })
app.get('/api/hello', async () => ({ hello: 'from the host' }))
app.post<{ Params: { userId: string }; Body: { text: string } }>('/api/notes/:userId', async (request) => {
  const event: OutgoingMessage = { type: 'note:new', data: { text: request.body.text } }
  app.wsDispatcher.sendToUser(request.params.userId, event)
  return { connections: app.wsRegistry.connectionCount }
})
// Production, and no jwt.secret: the host's own @fastify/jwt signs and checks the tokens.
const options: RealtimePluginOptions = { production: true, jwt: { issuer: 'roomler2' }, realtime: { typingTimeoutMs: 5000 } }
await app.register(realtime, options)
await app.listen({ host: '127.0.0.1', port: 0 })
const { port } = app.server.address() as AddressInfo
const base = `http://127.0.0.1:${port}`

const token = app.jwt.sign({ sub: USER, email: 'ada@example.test', username: 'ada', iss: 'roomler2', token_type: 'access' }, { expiresIn: '1h' })
const client = new RealtimeClient<{ 'note:new': { text: string } }>({ url: `ws://127.0.0.1:${port}/ws`, token, WebSocket })
const note = new Promise<{ text: string }>((resolve) => client.on('note:new', (message) => resolve(message.data)))
client.connect()
await within(client.ready(), 'the client connecting')

const pushed = await fetch(`${base}/api/notes/${USER}`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ text: 'pushed by the host' }),
})
const received = await within(note, 'the pushed event')
const hello = await (await fetch(`${base}/api/hello`)).json()
const health = (await fetch(`${base}/health`)).status
const refused = (await fetch(`${base}/ws?token=${encodeURIComponent(token.slice(0, -2))}`)).status

// The package's other entries: the TypeBox objects and the generated files.
const require = createRequire(import.meta.url)
const asyncapi = require('roomler-realtime/asyncapi.json') as { asyncapi: string }
const connectedSchema = require('roomler-realtime/json-schema/server/connected.json') as { properties: { type: { const: string } } }
const closed = await import('roomler-realtime/dist/lib/connections/hub.js' as string).then(
  () => 'importable',
  (error: NodeJS.ErrnoException) => error.code,
)

client.close()
await app.close()

console.log(
  'RESULT ' +
    JSON.stringify({
      received,
      pushed: { status: pushed.status, body: await pushed.json() },
      userId: client.userId,
      hello,
      health,
      refused,
      decorators: { wsDispatcher: typeof app.wsDispatcher.sendToUser, wsRegistry: typeof app.wsRegistry.connectionCount },
      exports: {
        CloseCode: CloseCode.GOING_AWAY,
        ConfigError: typeof ConfigError,
        configSections: Object.keys(RealtimeConfig.properties),
        serverMessages: ServerMessage.anyOf.length,
        asyncapi: asyncapi.asyncapi,
        connectedSchema: connectedSchema.properties.type.const,
        deepImport: closed,
      },
    }),
)

/** Never called: what must not compile, so the types are real (an `any` would let all of it through). */
export function typesAreChecked(): void {
  // @ts-expect-error the dispatcher is typed: it has no such method
  app.wsDispatcher.sendToEverybody({ type: 'x', data: {} })
  // @ts-expect-error connectionCount is a number
  const count: string = app.wsRegistry.connectionCount
  // @ts-expect-error an event's data is an object
  app.wsDispatcher.sendToUser(USER, { type: 'note:new', data: 'text' })
  // @ts-expect-error options are typed: a misspelt limit does not compile
  const misspelt: RealtimePluginOptions = { realtime: { maxPayload: 1024 } }
  void count
  void misspelt
}
