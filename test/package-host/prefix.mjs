// The installed package under a prefix, as a host mounts it beside its own
// /health: `app.register(realtime, { prefix: '/realtime' })`. A token the
// host's @fastify/jwt signs connects at /realtime/ws; /realtime/health is the
// plugin's, /health the host's. Prints a RESULT line for test/package.test.ts.
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { WebSocket } from 'ws'
import realtime from 'roomler-realtime'

const SECRET = 'the-host-api-own-secret-0123456789abcdef'
const USER = '64d0000000000000000000c3'
const WAIT_MS = 10000

const within = (promise, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${WAIT_MS} ms`)), WAIT_MS).unref())])

const app = Fastify({ logger: { level: 'warn' } })
await app.register(fastifyJwt, { secret: SECRET })
app.get('/health', async () => ({ host: 'healthy' }))
await app.register(realtime, { prefix: '/realtime', production: true, jwt: { issuer: 'roomler2' } })
await app.listen({ host: '127.0.0.1', port: 0 })
const { port } = app.server.address()
const base = `http://127.0.0.1:${port}`

const token = app.jwt.sign({ sub: USER, email: 'cy@example.test', username: 'cy', iss: 'roomler2', token_type: 'access' }, { expiresIn: '1h' })
const socket = new WebSocket(`ws://127.0.0.1:${port}/realtime/ws?token=${encodeURIComponent(token)}`)
const connected = await within(
  new Promise((resolve, reject) => {
    socket.once('message', (data) => resolve(JSON.parse(data.toString())))
    socket.once('error', reject)
  }),
  'connected on /realtime/ws',
)
const closed = new Promise((resolve) => socket.once('close', (code) => resolve(code)))
const status = async (path) => {
  const answer = await fetch(`${base}${path}`)
  return { status: answer.status, body: await answer.json() }
}
const health = await status('/realtime/health')
const hostHealth = await status('/health')
const rootWs = (await fetch(`${base}/ws?token=x`)).status
await app.close()
const closeCode = await within(closed, 'the close frame')

console.log('RESULT ' + JSON.stringify({ connected, health, hostHealth, rootWs, closeCode }))
