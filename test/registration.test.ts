/**
 * The mistakes a host can make when it registers the plugin, each refused at
 * `register` with an error that names the option at fault: no secret in
 * production, the plugin registered twice, an option of the wrong type, an
 * option that does not exist (a typo).
 */
import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import realtime, { ConfigError, RegistrationError, type RealtimePluginOptions } from '../app.js'
import { ISSUER, SECRET, connect, objectId, withoutOffset } from './helper.js'

/** A fresh Fastify, closed when the test ends; its log lines kept. */
function fastify(t: Test): { app: FastifyInstance; logs: Array<{ level: number; msg: string }> } {
  const logs: Array<{ level: number; msg: string }> = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      logs.push(JSON.parse(chunk.toString()))
      done()
    },
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  return { app, logs }
}

/** What registering `options` (as plain JavaScript would pass them) rejects with. */
async function refusal(t: Test, options: Record<string, unknown>, setup?: (app: FastifyInstance) => Promise<void>): Promise<Error> {
  const { app } = fastify(t)
  await setup?.(app)
  try {
    await app.register(realtime, options as RealtimePluginOptions)
    await app.ready()
  } catch (error) {
    return error as Error
  }
  throw new Error(`registering with ${JSON.stringify(options)} was accepted`)
}

t.test('production without a secret: refused, naming jwt.secret', async (t) => {
  for (const options of [{ production: true }, { production: true, jwt: { issuer: ISSUER } }, { production: true, jwt: { secret: 'change-me-in-production' } }]) {
    const error = await refusal(t, options)
    t.type(error, ConfigError, JSON.stringify(options))
    t.match(error.message, /jwt\.secret/, `names the option: ${error.message}`)
    t.match(error.message, /ROOMLER__JWT__SECRET/, 'and its environment variable')
  }
  const empty = await refusal(t, { production: true, jwt: { secret: '' } })
  t.match(empty.message, /jwt\.secret/, `an empty secret: ${empty.message}`)
})

t.test('production with the host’s own @fastify/jwt needs no jwt.secret: the host’s secret signs and checks', async (t) => {
  const { app } = fastify(t)
  await app.register(fastifyJwt, { secret: SECRET })
  await app.register(realtime, { production: true, jwt: { issuer: ISSUER } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const user = objectId()
  const token = app.jwt.sign({ sub: user, email: 'a@example.test', username: 'a', iss: ISSUER, token_type: 'access' }, { expiresIn: '1h' })
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`, token)
  t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } })
})

t.test('outside production, no secret and no host @fastify/jwt: it starts, and says so in a warning', async (t) => {
  const { app, logs } = fastify(t)
  await app.register(realtime, { production: false })
  await app.ready()
  const warning = logs.find((line) => line.level === 40 && line.msg.includes('jwt.secret'))
  t.ok(warning, 'a warning names jwt.secret')
  t.match(warning?.msg, /development secret/)

  const quiet = fastify(t)
  await quiet.app.register(realtime, { jwt: { secret: SECRET } })
  await quiet.app.ready()
  t.notOk(quiet.logs.some((line) => line.msg.includes('jwt.secret')), 'no warning when a secret is given')
})

t.test('registering twice: refused with a clear error', async (t) => {
  const { app } = fastify(t)
  await app.register(realtime, { jwt: { secret: SECRET } })
  await t.rejects(
    async () => {
      await app.register(realtime, { jwt: { secret: SECRET } })
      await app.ready()
    },
    { name: 'RegistrationError', code: 'ROOMLER_ALREADY_REGISTERED', message: /^roomler-realtime is already registered on this instance/ },
  )

  // Also when the second registration is inside a plugin of the host's (it would see the decorators).
  const nested = fastify(t)
  await nested.app.register(realtime, { jwt: { secret: SECRET } })
  nested.app.register(async (scope) => {
    await scope.register(realtime, { jwt: { secret: SECRET } })
  })
  const error = await nested.app.ready().then(
    () => undefined,
    (e: Error) => e,
  )
  t.type(error, RegistrationError)
  t.match(error?.message, 'roomler-realtime is already registered on this instance')
})

t.test('an option of the wrong type: refused, naming the option', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ realtime: { maxPayloadBytes: 'big' } }, /realtime\.maxPayloadBytes/],
    [{ realtime: { maxPayloadBytes: -1 } }, /realtime\.maxPayloadBytes/],
    [{ jwt: { secret: 42 } }, /jwt\.secret/],
    [{ app: { corsOrigins: 'https://a.example' } }, /app\.corsOrigins/],
    [{ redis: { url: 6379 } }, /redis\.url/],
    [{ realtime: 'fast' }, /option realtime\b/],
  ]
  for (const [options, name] of cases) {
    const error = await refusal(t, { jwt: { secret: SECRET }, ...options })
    t.type(error, ConfigError)
    t.match(error.message, name, `${JSON.stringify(options)}: ${error.message}`)
  }
})

t.test('an option that does not exist: refused by name, with the one it probably meant', async (t) => {
  const cases: Array<[Record<string, unknown>, string, string | undefined]> = [
    [{ realtime: { maxPayload: 1024 } }, 'option realtime.maxPayload', 'realtime.maxPayloadBytes'],
    [{ realtime: { typingTimeout: 5000 } }, 'option realtime.typingTimeout', 'realtime.typingTimeoutMs'],
    [{ jwt: { secrte: SECRET } }, 'option jwt.secrte', 'jwt.secret'],
    [{ databse: { url: 'mongodb://127.0.0.1:1' } }, 'option databse', 'database'],
    [{ redisUrl: 'redis://127.0.0.1:1' }, 'option redisUrl', 'redis'],
    [{ colour: 'blue' }, 'option colour', undefined],
  ]
  for (const [options, name, meant] of cases) {
    const error = await refusal(t, { jwt: { secret: SECRET }, ...options })
    t.type(error, ConfigError)
    t.ok(error.message.startsWith(`${name} is not an option of roomler-realtime`), `names ${name}: ${error.message}`)
    if (meant) t.match(error.message, `did you mean ${meant}?`)
    else t.notMatch(error.message, 'did you mean')
  }
  const route = await refusal(t, { jwt: { secret: SECRET }, routes: { helth: false } } as Record<string, unknown>)
  t.match(route.message, /^option routes\.helth is not a route group of roomler-realtime \(did you mean routes\.health\?\)/, 'a route group that does not exist is refused too')
})

t.test('a host’s @fastify/jwt with a namespace only: refused at register, not every token refused with 401', async (t) => {
  const error = await refusal(t, { jwt: { issuer: ISSUER } }, async (app) => {
    await app.register(fastifyJwt, { secret: SECRET, namespace: 'admin' })
  })
  t.type(error, RegistrationError)
  t.equal((error as RegistrationError).code, 'ROOMLER_HOST_JWT_UNUSABLE')
  t.match(error.message, /namespace/)
})
