import type { FastifyBaseLogger, FastifyRequest } from 'fastify'

const TOKEN_KEYS = new Set(['token', 'access_token'])

function decodeKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '))
  } catch {
    return raw
  }
}

/**
 * A JWT-shaped run: three base64url segments, or a JOSE header (`eyJ`, the
 * base64 of `{"`) with a payload after it, signed or not (header and payload
 * alone still say who the user is).
 */
const JWT_RUN = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,}\.?[A-Za-z0-9_-]*/g

/** Anything in free text that carries a token: a query value, a bearer credential, a JWT-shaped run. */
const TOKEN_IN_TEXT = [
  [/((?:^|[?&;\s])(?:%[0-9a-f]{2}|[a-z_])*(?:token|%74oken)(?:%5b%5d|\[\])?=)[^&\s"']*/gi, '$1[REDACTED]'],
  [/(bearer\s+)[^\s"',]+/gi, '$1[REDACTED]'],
  [JWT_RUN, '[REDACTED]'],
] as const

/** Free text (a log message, a URL inside one) with every token taken out. */
export function redactText(text: string): string {
  let out = text
  for (const [pattern, replacement] of TOKEN_IN_TEXT) out = out.replace(pattern, replacement)
  return out
}

/** Whether a piece of a URL, read as the server reads it (percent-escapes decoded), carries a token. */
function carriesToken(raw: string, plusIsSpace: boolean): boolean {
  const read = decodeKey(plusIsSpace ? raw : raw.replace(/\+/g, '%2B'))
  return redactText(read) !== read
}

/**
 * A URL with every token replaced, fit for a log line: a path segment or a
 * query value that carries one once decoded (a JWT-shaped run, `token=` in an
 * encoded value) goes whole; so does any token query value, its key compared
 * as the query parser reads it (`%74oken` and `token[]` are `token` too); and
 * what is left is scanned raw. Other URLs stay as they were.
 */
export function redactUrl(url: string): string {
  const query = url.indexOf('?')
  const path = (query < 0 ? url : url.slice(0, query))
    .split('/')
    .map((segment) => (carriesToken(segment, false) ? '[REDACTED]' : segment))
    .join('/')
  if (query < 0) return redactText(path)
  const pairs = url
    .slice(query + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const rawKey = eq < 0 ? pair : pair.slice(0, eq)
      const key = decodeKey(rawKey).trim().toLowerCase().replace(/\[\]$/, '')
      if (carriesToken(rawKey, true)) return '[REDACTED]'
      if (TOKEN_KEYS.has(key) || (eq >= 0 && carriesToken(pair.slice(eq + 1), true))) return `${rawKey}=[REDACTED]`
      return pair
    })
  return redactText(`${path}?${pairs.join('&')}`)
}

/** A value about to be logged, with tokens taken out of every string in it (objects copied, not changed). */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value)
  if (value === null || typeof value !== 'object' || depth > 6) return value
  if (value instanceof Error) return redactedError(value, depth)
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1))
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value // a request or reply: its serializer decides
  return redactedFields(value, {}, depth)
}

/** Own enumerable fields of `from`, redacted, onto `to`; defined, not assigned, so that a `__proto__` key stays a field. */
function redactedFields<T extends object>(from: object, to: T, depth: number): T {
  for (const [key, item] of Object.entries(from)) Object.defineProperty(to, key, { value: redactValue(item, depth + 1), enumerable: true, writable: true, configurable: true })
  return to
}

/**
 * An error as a copy with every token taken out of its message, stack, cause,
 * inner errors and fields, of the same class (a logger's `err` serializer still knows it).
 * Errors are logged rarely: always a copy, rather than first asking whether
 * one is needed.
 */
function redactedError(error: Error, depth: number): Error {
  const copy = redactedFields(error, Object.create(Object.getPrototypeOf(error)) as Error, depth)
  Object.defineProperty(copy, 'message', { value: redactText(error.message), writable: true, configurable: true })
  Object.defineProperty(copy, 'stack', { value: error.stack === undefined ? undefined : redactText(error.stack), writable: true, configurable: true })
  if ('cause' in error) Object.defineProperty(copy, 'cause', { value: redactValue(error.cause, depth + 1), writable: true, configurable: true })
  // An AggregateError's inner errors: own but not enumerable, and loggers write them out.
  const inner = (error as { errors?: unknown }).errors
  if (Array.isArray(inner)) Object.defineProperty(copy, 'errors', { value: redactValue(inner, depth + 1), writable: true, configurable: true })
  return copy
}

/**
 * Fastify's `req` log serializer with tokens taken out of the URL. The
 * standalone server's logger and every route of the plugin use it, so a
 * host that passes nothing to its own logger still logs no token.
 */
export const realtimeLogSerializers = {
  req(request: FastifyRequest) {
    return {
      method: request.method,
      url: redactUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort,
    }
  },
}

/**
 * Logger options that redact every line, not only the request line: the
 * serializers above, every string argument of a log call, and every string
 * field of a logged object. The standalone server's logger is built with them.
 */
export function redactingLoggerOptions(level: string) {
  return {
    level,
    serializers: realtimeLogSerializers,
    hooks: {
      logMethod(this: unknown, args: unknown[], method: (...args: unknown[]) => void) {
        method.apply(this, args.map((arg) => redactValue(arg)))
      },
    },
  }
}

const REDACTING = Symbol('roomler.redactingLogger')
const TARGET = Symbol('roomler.redactedLogger')
type Redacting = FastifyBaseLogger & { [REDACTING]?: true; [TARGET]: FastifyBaseLogger }
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
type Level = (typeof LEVELS)[number]

/** A level method of every redacting logger (`this` is the wrapper): one function per level, not closures per logger. */
function redactingMethod(level: Level) {
  return function (this: Redacting, ...args: unknown[]): void {
    const target = this[TARGET] as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }
    const write = target[level] as (...args: unknown[]) => void
    // A level that is off writes nothing: no need to copy what it would have been given (Fastify's `incoming request` at `warn`).
    if (typeof target.isLevelEnabled === 'function' && !target.isLevelEnabled(level)) return
    write.apply(target, args.map((arg) => redactValue(arg)))
  }
}
const REDACTING_METHODS = Object.fromEntries(LEVELS.map((level) => [level, redactingMethod(level)])) as Record<Level, (this: Redacting, ...args: unknown[]) => void>
function redactingChild(this: Redacting, bindings: Record<string, unknown>, options?: object): FastifyBaseLogger {
  return redactingLogger(this[TARGET].child(bindings, options))
}

/**
 * What a redacting logger is: the logger itself for everything (its level,
 * `bindings()`, whatever else the host's logger has), but its level methods
 * and `child` redact. A Proxy with one handler for all, not `Object.create`
 * per request: a new object with a per-request prototype made V8 build a
 * hidden class for each (most of the cost of a request's logger).
 */
const REDACTING_HANDLER: ProxyHandler<FastifyBaseLogger> = {
  get(target, key) {
    if (key === TARGET) return target
    if (key === REDACTING) return true
    if (key === 'child') return redactingChild
    if (typeof key === 'string' && Object.hasOwn(REDACTING_METHODS, key)) return REDACTING_METHODS[key as Level]
    return Reflect.get(target, key)
  },
}

/**
 * A request logger of the plugin's routes that redacts what it is asked to
 * log (messages and objects), whatever logger the host gave Fastify.
 */
export function redactingLogger(logger: FastifyBaseLogger): FastifyBaseLogger {
  if ((logger as Redacting)[REDACTING]) return logger
  return new Proxy(logger, REDACTING_HANDLER)
}

/**
 * Per logger of a context, its child with the redacting `req` serializer,
 * made once: a request's logger is a child of it with the request's
 * bindings, instead of a child with serializers of its own per request.
 */
const withRedactingSerializers = new WeakMap<FastifyBaseLogger, FastifyBaseLogger>()

/**
 * Fastify's child-logger factory for the plugin's encapsulated context: each
 * request logger gets the redacting `req` serializer and is itself redacting,
 * so its routes and its 404 log no token under a host's plain logger.
 */
export function redactingChildLoggerFactory(
  logger: FastifyBaseLogger,
  bindings: Record<string, unknown>,
  options: { serializers?: Record<string, (value: any) => unknown>; level?: string },
): FastifyBaseLogger {
  // A route with serializers of its own: a child with all of them, ours last (as every request had before).
  if (options.serializers !== undefined) {
    return redactingLogger(logger.child(bindings, { ...options, serializers: { ...options.serializers, ...realtimeLogSerializers } }))
  }
  let parent = withRedactingSerializers.get(logger)
  // Remade when the context's level changed since (a child takes its parent's level when made).
  if (parent === undefined || parent.level !== logger.level) {
    parent = logger.child({}, { serializers: realtimeLogSerializers })
    withRedactingSerializers.set(logger, parent)
  }
  return redactingLogger(parent.child(bindings, options))
}
