/**
 * Configuration (contract sections 1 and 6): `ROOMLER__<SECTION>__<KEY>`
 * variables as Roomler2 reads them, the defaults of the contract's tables,
 * and refusals that name the variable at fault.
 */
import t from 'tap'
import { ConfigError, configFromEnv, resolveConfig, usesDevSecret } from '../lib/support/config.js'

/** What `configFromEnv` throws for `env`, or a failure when it does not throw a ConfigError. */
function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    configFromEnv(env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw new Error(`expected a ConfigError, got ${String(error)}`)
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`)
}

const A_SECRET = 'a-real-secret-of-our-own-0123456789abcdef'

t.test('defaults match the contract’s tables', async (t) => {
  const config = configFromEnv({})
  t.same(config.app, { host: '0.0.0.0', port: 3000, corsOrigins: [], trustedProxies: [] }, 'section 1: app (trustedProxies: this service’s own)')
  t.equal(config.database.url, undefined, 'no database URL: the in-memory store')
  t.equal(config.database.name, 'roomler2')
  t.equal(config.jwt.issuer, 'roomler2')
  t.ok(usesDevSecret(config), 'the development secret outside production')
  t.equal(config.redis.url, undefined, 'no Redis: one instance')
  t.same(
    config.realtime,
    {
      maxPayloadBytes: 16384,
      rateLimitPerSec: 20,
      rateLimitBurst: 40,
      maxConnectionsPerUser: 10,
      maxBufferedBytes: 1048576,
      heartbeatMs: 30000,
      typingTimeoutMs: 10000,
      typingRatePerSec: 5,
      membershipCacheMs: 5000,
      recoveryWindowMs: 120000,
      recoveryEvents: 10000,
      presenceScope: 'everyone',
      maxPresenceSubscriptions: 1000,
      instanceTtlMs: 15000,
      // This service's own, beside the contract's table: HTTP rate limit and metrics labels.
      httpRateLimitPerMin: 600,
      metricsEventTypes: 50,
      recoveryMaxBytes: 67108864,
    },
    'section 6: limits',
  )
  t.equal(config.realtime.apiKey, undefined, 'no API key: POST /publish disabled')
  // "As Roomler2": the defaults of Roomler2's crates/config/src/settings.rs.
  t.same(config.mediasoup, { numWorkers: 2, listenIp: '0.0.0.0', announcedIp: '127.0.0.1', rtcMinPort: 40000, rtcMaxPort: 49999 })
  t.match(config.turn, { forceRelay: false })
  t.equal(config.turn.url, undefined)
  t.equal(config.turn.username, undefined)
  t.equal(config.turn.password, undefined)
  t.same(resolveConfig({}), config, 'the plugin’s defaults are the same as the environment’s')
})

t.test('every variable of the tables is read', async (t) => {
  const config = configFromEnv({
    ROOMLER__APP__HOST: '127.0.0.1',
    ROOMLER__APP__PORT: '8081',
    ROOMLER__APP__CORS_ORIGINS: 'https://roomler.example, https://admin.roomler.example ,http://localhost:5173',
    ROOMLER__DATABASE__URL: 'mongodb://db.internal:27017/?replicaSet=rs0',
    ROOMLER__DATABASE__NAME: 'roomler_staging',
    ROOMLER__JWT__SECRET: A_SECRET,
    ROOMLER__JWT__ISSUER: 'roomler-staging',
    ROOMLER__REDIS__URL: 'redis://cache.internal:6379/2',
    ROOMLER__MEDIASOUP__NUM_WORKERS: '4',
    ROOMLER__MEDIASOUP__LISTEN_IP: '10.0.0.5',
    ROOMLER__MEDIASOUP__ANNOUNCED_IP: '203.0.113.7',
    ROOMLER__MEDIASOUP__RTC_MIN_PORT: '41000',
    ROOMLER__MEDIASOUP__RTC_MAX_PORT: '42000',
    ROOMLER__TURN__URL: 'turn:turn.roomler.example:3478',
    ROOMLER__TURN__USERNAME: 'turnuser',
    ROOMLER__TURN__PASSWORD: 'turnpass',
    ROOMLER__TURN__FORCE_RELAY: 'true',
    ROOMLER__REALTIME__MAX_PAYLOAD_BYTES: '32768',
    ROOMLER__REALTIME__RATE_LIMIT_PER_SEC: '5',
    ROOMLER__REALTIME__RATE_LIMIT_BURST: '15',
    ROOMLER__REALTIME__MAX_CONNECTIONS_PER_USER: '3',
    ROOMLER__REALTIME__MAX_BUFFERED_BYTES: '65536',
    ROOMLER__REALTIME__HEARTBEAT_MS: '15000',
    ROOMLER__REALTIME__TYPING_TIMEOUT_MS: '4000',
    ROOMLER__REALTIME__TYPING_RATE_PER_SEC: '7',
    ROOMLER__REALTIME__MEMBERSHIP_CACHE_MS: '0',
    ROOMLER__REALTIME__RECOVERY_WINDOW_MS: '30000',
    ROOMLER__REALTIME__RECOVERY_EVENTS: '500',
    ROOMLER__REALTIME__RECOVERY_MAX_BYTES: '1048576',
    ROOMLER__REALTIME__INSTANCE_TTL_MS: '9000',
    ROOMLER__REALTIME__PRESENCE_SCOPE: 'subscribed',
    ROOMLER__REALTIME__MAX_PRESENCE_SUBSCRIPTIONS: '50',
    ROOMLER__REALTIME__API_KEY: 'publish-key-0123456789abcdef',
    ROOMLER__APP__TRUSTED_PROXIES: '10.0.0.1, 10.1.0.0/16',
    ROOMLER__REALTIME__METRICS_KEY: 'metrics-key-0123456789abcdef',
    ROOMLER__REALTIME__METRICS_PORT: '9464',
    ROOMLER__REALTIME__HTTP_RATE_LIMIT_PER_MIN: '0',
    ROOMLER__REALTIME__METRICS_EVENT_TYPES: '10',
  })
  t.same(config.app, {
    host: '127.0.0.1',
    port: 8081,
    corsOrigins: ['https://roomler.example', 'https://admin.roomler.example', 'http://localhost:5173'],
    trustedProxies: ['10.0.0.1', '10.1.0.0/16'],
  })
  t.same(config.database, { url: 'mongodb://db.internal:27017/?replicaSet=rs0', name: 'roomler_staging' })
  t.same(config.jwt, { secret: A_SECRET, issuer: 'roomler-staging' })
  t.notOk(usesDevSecret(config))
  t.same(config.redis, { url: 'redis://cache.internal:6379/2' })
  t.same(config.mediasoup, { numWorkers: 4, listenIp: '10.0.0.5', announcedIp: '203.0.113.7', rtcMinPort: 41000, rtcMaxPort: 42000 })
  t.same(config.turn, { url: 'turn:turn.roomler.example:3478', username: 'turnuser', password: 'turnpass', forceRelay: true })
  t.same(config.realtime, {
    maxPayloadBytes: 32768,
    rateLimitPerSec: 5,
    rateLimitBurst: 15,
    maxConnectionsPerUser: 3,
    maxBufferedBytes: 65536,
    heartbeatMs: 15000,
    typingTimeoutMs: 4000,
    typingRatePerSec: 7,
    membershipCacheMs: 0,
    recoveryWindowMs: 30000,
    recoveryEvents: 500,
    recoveryMaxBytes: 1048576,
    presenceScope: 'subscribed',
    maxPresenceSubscriptions: 50,
    instanceTtlMs: 9000,
    apiKey: 'publish-key-0123456789abcdef',
    metricsKey: 'metrics-key-0123456789abcdef',
    metricsPort: 9464,
    httpRateLimitPerMin: 0,
    metricsEventTypes: 10,
  })
})

t.test('booleans read as Roomler2 reads them', async (t) => {
  // Roomler2 reads its environment with the `config` crate, whose booleans are
  // (case-insensitively) 1/true/on/yes and 0/false/off/no: a Roomler2
  // deployment's value must start this service too.
  for (const [raw, value] of [
    ['true', true],
    ['false', false],
    ['TRUE', true],
    ['1', true],
    ['0', false],
    ['yes', true],
    ['no', false],
    ['on', true],
    ['Off', false],
  ] as const) {
    let forceRelay: boolean | string
    try {
      forceRelay = configFromEnv({ ROOMLER__TURN__FORCE_RELAY: raw }).turn.forceRelay
    } catch (error) {
      forceRelay = `refused: ${String(error)}`
    }
    t.equal(forceRelay, value, `FORCE_RELAY=${raw}`)
  }
})

t.test('an empty value counts as unset', async (t) => {
  const config = configFromEnv({
    ROOMLER__APP__CORS_ORIGINS: '',
    ROOMLER__REDIS__URL: '',
    ROOMLER__DATABASE__URL: '',
    ROOMLER__APP__PORT: '',
  })
  t.same(config.app.corsOrigins, [], 'empty CORS origins allow any')
  t.equal(config.redis.url, undefined)
  t.equal(config.database.url, undefined)
  t.equal(config.app.port, 3000)
})

t.test('a value that does not parse stops the start, naming the variable', async (t) => {
  const cases: Array<[NodeJS.ProcessEnv, string]> = [
    [{ ROOMLER__APP__PORT: 'abc' }, 'ROOMLER__APP__PORT'],
    [{ ROOMLER__APP__PORT: '70000' }, 'ROOMLER__APP__PORT'],
    [{ ROOMLER__APP__PORT: '-1' }, 'ROOMLER__APP__PORT'],
    [{ ROOMLER__APP__PORT: '3000.5' }, 'ROOMLER__APP__PORT'],
    [{ ROOMLER__REALTIME__MAX_PAYLOAD_BYTES: '-1' }, 'ROOMLER__REALTIME__MAX_PAYLOAD_BYTES'],
    [{ ROOMLER__REALTIME__RATE_LIMIT_PER_SEC: '-5' }, 'ROOMLER__REALTIME__RATE_LIMIT_PER_SEC'],
    [{ ROOMLER__REALTIME__RATE_LIMIT_BURST: '0' }, 'ROOMLER__REALTIME__RATE_LIMIT_BURST'],
    [{ ROOMLER__REALTIME__MAX_CONNECTIONS_PER_USER: 'ten' }, 'ROOMLER__REALTIME__MAX_CONNECTIONS_PER_USER'],
    [{ ROOMLER__REALTIME__HEARTBEAT_MS: '30s' }, 'ROOMLER__REALTIME__HEARTBEAT_MS'],
    [{ ROOMLER__REALTIME__MEMBERSHIP_CACHE_MS: '-1' }, 'ROOMLER__REALTIME__MEMBERSHIP_CACHE_MS'],
    [{ ROOMLER__TURN__FORCE_RELAY: 'maybe' }, 'ROOMLER__TURN__FORCE_RELAY'],
    [{ ROOMLER__REALTIME__PRESENCE_SCOPE: 'friends' }, 'ROOMLER__REALTIME__PRESENCE_SCOPE'],
    [{ ROOMLER__REALTIME__MAX_PRESENCE_SUBSCRIPTIONS: '0' }, 'ROOMLER__REALTIME__MAX_PRESENCE_SUBSCRIPTIONS'],
    [{ ROOMLER__MEDIASOUP__NUM_WORKERS: '0' }, 'ROOMLER__MEDIASOUP__NUM_WORKERS'],
    [{ ROOMLER__MEDIASOUP__RTC_MAX_PORT: '70000' }, 'ROOMLER__MEDIASOUP__RTC_MAX_PORT'],
    [{ ROOMLER__MEDIASOUP__RTC_MIN_PORT: '45000', ROOMLER__MEDIASOUP__RTC_MAX_PORT: '44000' }, 'ROOMLER__MEDIASOUP__RTC_MIN_PORT'],
  ]
  for (const [env, variable] of cases) {
    const error = refusal(env)
    t.match(error.message, variable, `${JSON.stringify(env)} is refused naming ${variable}: ${error.message}`)
  }
})

t.test('a plugin option that does not validate names the option', async (t) => {
  t.throws(() => resolveConfig({ app: { port: 70000 } }), { name: 'ConfigError', message: /app\.port/ })
  t.throws(() => resolveConfig({ realtime: { maxPayloadBytes: -1 } }), { name: 'ConfigError', message: /realtime\.maxPayloadBytes/ })
})

t.test('an unknown ROOMLER__REALTIME__ key is refused by name', async (t) => {
  const error = refusal({ ROOMLER__REALTIME__MAX_PAYLOAD: '1000' })
  t.match(error.message, 'ROOMLER__REALTIME__MAX_PAYLOAD')
  t.match(refusal({ ROOMLER__REALTIME__TYPING_TIMEOUT: '5000' }).message, 'ROOMLER__REALTIME__TYPING_TIMEOUT')
})

t.test('the rest of Roomler2’s configuration is accepted as it is', async (t) => {
  // Settings of Roomler2 that this service does not use: the shared environment must not stop it.
  const config = configFromEnv({
    ROOMLER__APP__STATIC_DIR: '/srv/roomler/ui',
    ROOMLER__DATABASE__MAX_POOL_SIZE: '20',
    ROOMLER__JWT__ACCESS_TOKEN_TTL_SECS: '3600',
    ROOMLER__JWT__REFRESH_TOKEN_TTL_SECS: '604800',
    ROOMLER__S3__BUCKET: 'roomler2',
    ROOMLER__OAUTH__GOOGLE__CLIENT_ID: 'google-client',
    ROOMLER__CLAUDE__MAX_TOKENS: '4096',
    ROOMLER__TRANSCRIPTION__ENABLED: 'false',
    ROOMLER__APP__PORT: '4000',
  })
  t.equal(config.app.port, 4000)
})

t.test('production refuses the development secret, naming ROOMLER__JWT__SECRET', async (t) => {
  t.match(refusal({ NODE_ENV: 'production' }).message, 'ROOMLER__JWT__SECRET', 'a missing secret')
  t.match(refusal({ NODE_ENV: 'production', ROOMLER__JWT__SECRET: '' }).message, 'ROOMLER__JWT__SECRET', 'an empty secret')
  t.match(
    refusal({ NODE_ENV: 'production', ROOMLER__JWT__SECRET: 'change-me-in-production' }).message,
    'ROOMLER__JWT__SECRET',
    'Roomler2’s default secret, set explicitly',
  )
  t.throws(() => resolveConfig({}, { production: true }), { name: 'ConfigError', message: /ROOMLER__JWT__SECRET|jwt\.secret/ })

  const config = configFromEnv({ NODE_ENV: 'production', ROOMLER__JWT__SECRET: A_SECRET })
  t.equal(config.jwt.secret, A_SECRET, 'a secret of one’s own passes')
  t.doesNotThrow(() => configFromEnv({ NODE_ENV: 'development' }), 'outside production the default is allowed')
})
