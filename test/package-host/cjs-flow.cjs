'use strict'
/**
 * The same host as src/index.ts, in CommonJS: `realtime` is the plugin as a
 * CommonJS host gets it (cjs-import.cjs: `await import()`; cjs-require.cjs:
 * `require()`). Prints a RESULT line for test/package.test.ts.
 */
const Fastify = require('fastify')
const fastifyJwt = require('@fastify/jwt')
const { WebSocket } = require('ws')

const SECRET = 'the-host-api-own-secret-0123456789abcdef'
const USER = '64d0000000000000000000b2'
const WAIT_MS = 10000

function within(promise, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${WAIT_MS} ms`)), WAIT_MS)
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error) => (clearTimeout(timer), reject(error)),
    )
  })
}

exports.run = async function run(realtime, how) {
  const app = Fastify({ logger: { level: 'warn' } })
  await app.register(fastifyJwt, { secret: SECRET })
  app.get('/api/hello', async () => ({ hello: 'from the host' }))
  await app.register(realtime, { production: true, jwt: { issuer: 'roomler2' } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address()

  const token = app.jwt.sign({ sub: USER, email: 'grace@example.test', username: 'grace', iss: 'roomler2', token_type: 'access' }, { expiresIn: '1h' })
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}`)
  const messages = []
  const arrived = []
  socket.on('message', (data) => {
    messages.push(JSON.parse(data.toString()))
    for (const wake of arrived.splice(0)) wake()
  })
  const next = (type) =>
    within(
      new Promise((resolve) => {
        const look = () => {
          const found = messages.find((m) => m.type === type)
          if (found) resolve(found)
          else arrived.push(look)
        }
        look()
      }),
      `a ${type} message`,
    )
  const connected = await next('connected')
  app.wsDispatcher.sendToUser(USER, { type: 'note:new', data: { text: `pushed by a CommonJS host (${how})` } })
  const note = await next('note:new')
  const connections = app.wsRegistry.connectionCount
  const hello = await (await fetch(`http://127.0.0.1:${port}/api/hello`)).json()
  socket.close()
  await app.close()
  console.log('RESULT ' + JSON.stringify({ how, connected, note, connections, hello }))
}
