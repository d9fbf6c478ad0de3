/**
 * The standalone service: configuration from ROOMLER__* variables, the plugin
 * registered on a fresh Fastify, signals handled, and a listening port. Tests
 * never import this file; they spawn it.
 */
import Fastify, { type FastifyReply } from 'fastify'
import closeWithGrace from 'close-with-grace'
import realtime from './app.js'
import { internalsOf } from './plugins/internals.js'
import { ConfigError, configFromEnv, usesDevSecret } from './lib/support/config.js'
import { DEMO_CHANNEL_ID, seedDemo } from './demo/seed.js'
import { redactingLoggerOptions } from './lib/support/logging.js'
import { sendError } from './lib/support/http-errors.js'
import demoPage from './demo/page.js'
import type { RealtimeConfig } from './schemas/config.js'

/** A shutdown that has not finished by then is cut short. */
const SHUTDOWN_DEADLINE_MS = 8000

function loadConfig(): RealtimeConfig {
  try {
    return configFromEnv(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`roomler-realtime: configuration error: ${error.message}\n`)
      process.exit(78) // EX_CONFIG
    }
    throw error
  }
}

const config = loadConfig()
const production = process.env.NODE_ENV === 'production'
const app = Fastify({
  // Every log line is redacted, not only the request line: no token reaches the log on any path.
  logger: redactingLoggerOptions(process.env.LOG_LEVEL ?? 'info'),
  // X-Forwarded-For is believed only from the proxies an operator names.
  trustProxy: config.app.trustedProxies.length > 0 ? config.app.trustedProxies : false,
  // A URL the router cannot read (a bad percent-encoding) gets the JSON shape; Fastify's own body would repeat the URL, a token in it too.
  frameworkErrors: (_error, _request, reply) => {
    void sendError(reply as FastifyReply, 400, 'bad_request', 'the URL could not be read')
  },
})

await app.register(realtime, { ...config, production, standalone: true })

// The demo reaches into the plugin's own context: its in-memory store and its token signer.
const inner = internalsOf(app)
const demo = !production && usesDevSecret(config) && inner.realtimeStores.kind === 'memory'
const demoUsers = demo ? seedDemo(inner) : []
if (demo) await app.register(demoPage, { channelId: DEMO_CHANNEL_ID, users: demoUsers })

// SIGTERM, SIGINT, an uncaught exception and an unhandled rejection all close the
// same way: every connection with 1001, presence recorded, then exit (cut short after the deadline).
closeWithGrace({ delay: SHUTDOWN_DEADLINE_MS, logger: app.log }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'shutting down after an uncaught error')
  else app.log.info({ signal }, 'shutting down')
  await app.close()
})

try {
  await app.listen({ host: config.app.host, port: config.app.port })
} catch (error) {
  app.log.error({ err: error }, 'could not listen')
  process.exit(1)
}

if (demo) {
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.app.port
  const lines = [
    '',
    'Demo mode (development secret, in-memory store). Not for production.',
    `Channel ${DEMO_CHANNEL_ID} has these members; a token for each (valid 12 hours):`,
    ...demoUsers.map((user) => `  ${user.username.padEnd(6)} ${user.id}  ${user.token}`),
    '',
    `Open the demo page: http://localhost:${port}/`,
    '',
    'Connect, for example:',
    `  npx wscat -c "ws://localhost:${port}/ws?token=${demoUsers[0]!.token}"`,
    `  then send {"type":"typing:start","data":{"channel_id":"${DEMO_CHANNEL_ID}"}}`,
    '',
  ]
  process.stdout.write(lines.join('\n') + '\n')
}
