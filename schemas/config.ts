import { Type, type Static } from '@sinclair/typebox'

/**
 * The service's configuration, one object for plugin options and environment
 * alike. Every leaf maps to `ROOMLER__<SECTION>__<KEY>` (the key in upper
 * snake case), so this schema is also the table of environment variables.
 */
const Port = (dflt: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: dflt, description })
const Count = (dflt: number, minimum: number, description: string) =>
  Type.Integer({ minimum, default: dflt, description })

export const DEV_JWT_SECRET = 'change-me-in-production'

export const AppConfig = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Listen address' }),
    port: Port(3000, 'Listen port'),
    corsOrigins: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Origin values allowed to open /ws (comma-separated); empty allows any',
    }),
    trustedProxies: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Addresses or CIDR ranges of proxies whose X-Forwarded-For is believed (comma-separated); empty believes none (standalone)',
    }),
  },
  { additionalProperties: false, default: {} },
)

export const DatabaseConfig = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, description: 'MongoDB URL; unset runs on the embedded in-memory store' })),
    name: Type.String({ minLength: 1, default: 'roomler2', description: 'Database name' }),
  },
  { additionalProperties: false, default: {} },
)

export const JwtConfig = Type.Object(
  {
    secret: Type.String({
      minLength: 1,
      default: DEV_JWT_SECRET,
      description: 'HS256 secret; the development default is refused when NODE_ENV=production',
    }),
    issuer: Type.String({ minLength: 1, default: 'roomler2', description: 'Required `iss` claim' }),
  },
  { additionalProperties: false, default: {} },
)

export const RedisConfig = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, description: 'Redis URL; set, the service runs as one of many instances' })),
  },
  { additionalProperties: false, default: {} },
)

export const MediasoupConfig = Type.Object(
  {
    numWorkers: Count(2, 1, 'mediasoup workers (parsed and exposed; no media server is run)'),
    listenIp: Type.String({ minLength: 1, default: '0.0.0.0', description: 'mediasoup bind address' }),
    announcedIp: Type.String({ minLength: 1, default: '127.0.0.1', description: 'mediasoup public address' }),
    rtcMinPort: Port(40000, 'Lowest RTC UDP port'),
    rtcMaxPort: Port(49999, 'Highest RTC UDP port'),
  },
  { additionalProperties: false, default: {} },
)

export const TurnConfig = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, description: 'TURN server URL' })),
    username: Type.Optional(Type.String({ description: 'TURN user name' })),
    password: Type.Optional(Type.String({ description: 'TURN password' })),
    forceRelay: Type.Boolean({ default: false, description: 'Force relayed ICE candidates' }),
  },
  { additionalProperties: false, default: {} },
)

export const RealtimeLimits = Type.Object(
  {
    maxPayloadBytes: Count(16384, 64, 'Largest frame accepted; a larger one closes the connection with 1009'),
    rateLimitPerSec: Count(20, 1, 'Messages per second per connection (token bucket refill)'),
    rateLimitBurst: Count(40, 1, 'Token bucket size per connection'),
    maxConnectionsPerUser: Count(10, 1, 'Open connections per user; the next upgrade gets 429'),
    maxBufferedBytes: Count(1048576, 1024, 'Unsent output per connection before it closes with 1013'),
    heartbeatMs: Count(30000, 10, 'Protocol Ping period; a connection that missed the previous one is terminated'),
    typingTimeoutMs: Count(10000, 10, 'A typing:start neither renewed nor stopped ends after this'),
    typingRatePerSec: Count(5, 1, 'typing:start/typing:stop messages per second per user, all connections together on every instance; past it, rate_limited'),
    membershipCacheMs: Count(5000, 0, 'How long channel membership may be cached'),
    recoveryWindowMs: Count(120000, 0, 'How far back a reconnect with ?since= may recover missed application events'),
    recoveryEvents: Count(10000, 0, 'How many application events the history keeps for ?since=; 0 keeps none'),
    recoveryMaxBytes: Count(67108864, 0, 'About how many bytes the history of ?since= may take (frames and audiences); past it the oldest events go (this service\'s addition to the contract)'),
    presenceScope: Type.Union([Type.Literal('everyone'), Type.Literal('subscribed')], {
      default: 'everyone',
      description: 'Who receives presence changes: everyone (every connected user) or subscribed (the connections that sent presence:subscribe for the user)',
    }),
    maxPresenceSubscriptions: Count(1000, 1, 'Users one connection may subscribe to with presence:subscribe (PRESENCE_SCOPE=subscribed); a subscribe past it is refused whole'),
    instanceTtlMs: Count(15000, 100, 'An instance silent for this long is counted out (many instances)'),
    apiKey: Type.Optional(Type.String({ minLength: 16, description: 'Bearer key for POST /publish; unset disables it' })),
    metricsKey: Type.Optional(
      Type.String({ minLength: 16, description: 'Bearer key GET /metrics asks for; unset serves it to anyone who reaches it' }),
    ),
    metricsPort: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 65535, description: 'Serve GET /metrics on this port of its own (same host) instead of the main one' }),
    ),
    httpRateLimitPerMin: Count(600, 0, 'Requests per minute per client address to GET /presence and POST /publish (each); over it, 429; 0 turns it off'),
    metricsEventTypes: Count(50, 0, 'Distinct application event types counted under their own label in /metrics; the rest count as other'),
  },
  { additionalProperties: false, default: {} },
)

export const RealtimeConfig = Type.Object(
  {
    app: AppConfig,
    database: DatabaseConfig,
    jwt: JwtConfig,
    redis: RedisConfig,
    mediasoup: MediasoupConfig,
    turn: TurnConfig,
    realtime: RealtimeLimits,
  },
  { additionalProperties: false, default: {} },
)
export type RealtimeConfig = Static<typeof RealtimeConfig>

/** What a host passes to the plugin: any part of the configuration. */
export type RealtimeOptions = {
  [S in keyof RealtimeConfig]?: Partial<RealtimeConfig[S]>
}
