import { Kind, type TObject, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import { DEV_JWT_SECRET, RealtimeConfig, type RealtimeOptions } from '../../schemas/config.js'

/** A configuration value that cannot be used; `source` names the variable or option. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    problem: string,
  ) {
    super(`${source} ${problem}`)
    this.name = 'ConfigError'
  }
}

/** A mistake in how a host registers the plugin (not in a value), e.g. registering it twice. */
export class RegistrationError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'RegistrationError'
  }
}

const checkConfig = TypeCompiler.Compile(RealtimeConfig)

export interface ConfigLeaf {
  section: string
  key: string
  env: string
  schema: TSchema
}

function upperSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()
}

/** Every setting with its environment variable, in schema order. */
export const configLeaves: readonly ConfigLeaf[] = Object.entries(RealtimeConfig.properties).flatMap(
  ([section, sectionSchema]) =>
    Object.entries((sectionSchema as TObject).properties).map(([key, schema]) => ({
      section,
      key,
      env: `ROOMLER__${section.toUpperCase()}__${upperSnake(key)}`,
      schema: schema as TSchema,
    })),
)

const leafByEnv = new Map(configLeaves.map((leaf) => [leaf.env, leaf]))
const leafByPath = new Map(configLeaves.map((leaf) => [`/${leaf.section}/${leaf.key}`, leaf]))

/** Options of the plugin that are not settings (no environment variable): app.ts takes them out first. */
export const PLUGIN_ONLY_OPTIONS = ['production', 'stores', 'prefix', 'routes', 'metricsRegistry', 'standalone'] as const

/** Sections this service owns: an unknown key there is a typo, not someone else's setting. */
const OWNED_PREFIXES = ['ROOMLER__REALTIME__']

const TRUE_WORDS = new Set(['true', '1', 'on', 'yes'])
const FALSE_WORDS = new Set(['false', '0', 'off', 'no'])

function parseEnvValue(leaf: ConfigLeaf, raw: string): unknown {
  const kind = leaf.schema[Kind]
  if (kind === 'Integer') {
    const text = raw.trim()
    if (!/^-?\d+$/.test(text)) throw new ConfigError(leaf.env, `must be a whole number, got ${JSON.stringify(raw)}`)
    return Number(text)
  }
  if (kind === 'Boolean') {
    const text = raw.trim().toLowerCase()
    // The spellings Roomler2's config crate accepts, so its environment works unchanged.
    if (TRUE_WORDS.has(text)) return true
    if (FALSE_WORDS.has(text)) return false
    throw new ConfigError(leaf.env, `must be true or false (also 1/0, on/off, yes/no), got ${JSON.stringify(raw)}`)
  }
  if (kind === 'Array') {
    return raw
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part.length > 0)
  }
  return raw
}

/**
 * Reads `ROOMLER__<SECTION>__<KEY>` variables into options. Empty values count
 * as unset, as an operator who writes `ROOMLER__REDIS__URL=` means.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv): { options: RealtimeOptions; sources: Map<string, string> } {
  const options: Record<string, Record<string, unknown>> = {}
  const sources = new Map<string, string>()
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('ROOMLER__') || raw === undefined) continue
    const leaf = leafByEnv.get(name)
    if (!leaf) {
      if (OWNED_PREFIXES.some((prefix) => name.startsWith(prefix))) {
        throw new ConfigError(name, 'is not a setting this service knows (see the configuration table in the README)')
      }
      continue
    }
    if (raw.trim() === '' && leaf.schema[Kind] !== 'Array') continue
    ;(options[leaf.section] ??= {})[leaf.key] = parseEnvValue(leaf, raw)
    sources.set(`/${leaf.section}/${leaf.key}`, leaf.env)
  }
  return { options: options as RealtimeOptions, sources }
}

/** Edit distance, to suggest the option a typo meant. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

export function closest(name: string, known: string[]): string | undefined {
  const lower = name.toLowerCase()
  let best: { name: string; score: number } | undefined
  for (const candidate of known) {
    const other = candidate.toLowerCase()
    const score = other.startsWith(lower) || lower.startsWith(other) ? 0 : distance(lower, other)
    if (score <= Math.max(2, Math.floor(name.length / 3)) && (!best || score < best.score)) best = { name: candidate, score }
  }
  return best?.name
}

/** The first option key the configuration does not have, with a suggestion; undefined when all are known. */
function unknownOption(options: Record<string, unknown>): ConfigError | undefined {
  const sections = Object.keys(RealtimeConfig.properties)
  for (const [section, value] of Object.entries(options)) {
    if (!sections.includes(section)) {
      const guess = closest(section, sections)
      return new ConfigError(`option ${section}`, `is not an option of roomler-realtime${guess ? ` (did you mean ${guess}?)` : ''}; the options are ${[...sections, ...PLUGIN_ONLY_OPTIONS].join(', ')}`)
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue // the schema names the wrong type
    const keys = Object.keys((RealtimeConfig.properties[section as keyof RealtimeConfig] as TObject).properties)
    for (const key of Object.keys(value)) {
      if (keys.includes(key)) continue
      const guess = closest(key, keys)
      return new ConfigError(
        `option ${section}.${key}`,
        `is not an option of roomler-realtime${guess ? ` (did you mean ${section}.${guess}?)` : ''}; ${section} has ${keys.join(', ')}`,
      )
    }
  }
  return undefined
}

export interface ResolveOptions {
  /** NODE_ENV=production: the development secret is refused. */
  production?: boolean
  /** Where each value came from (an environment variable), to name it in errors. */
  sources?: Map<string, string>
}

/** Fills defaults and validates; throws a ConfigError naming the first bad value. */
export function resolveConfig(options: RealtimeOptions = {}, resolve: ResolveOptions = {}): RealtimeConfig {
  const nameOf = (path: string) => {
    const source = resolve.sources?.get(path)
    if (source) return source
    const leaf = leafByPath.get(path)
    return leaf ? `option ${leaf.section}.${leaf.key} (${leaf.env})` : `option ${path.slice(1).replaceAll('/', '.')}`
  }
  if (options === null || typeof options !== 'object') throw new ConfigError('options', 'must be an object')
  const unknown = unknownOption(options as Record<string, unknown>)
  if (unknown) throw unknown

  const candidate = Value.Default(RealtimeConfig, Value.Clone(options)) as RealtimeConfig
  if (!checkConfig.Check(candidate)) {
    const error = checkConfig.Errors(candidate).First()!
    // A closed set of words (PRESENCE_SCOPE): name them rather than "Expected union value".
    const words = (error.schema as { anyOf?: Array<{ const?: unknown }> }).anyOf?.map((option) => option.const)
    const expected = words?.every((word) => typeof word === 'string') ? `expected one of ${words.join(', ')}` : error.message
    throw new ConfigError(nameOf(error.path), `is invalid: ${expected} (got ${JSON.stringify(error.value)})`)
  }
  const { realtime, mediasoup, jwt } = candidate
  if (mediasoup.rtcMinPort > mediasoup.rtcMaxPort) {
    throw new ConfigError(nameOf('/mediasoup/rtcMinPort'), `must not exceed ${nameOf('/mediasoup/rtcMaxPort')}`)
  }
  if (realtime.rateLimitBurst < 1) throw new ConfigError(nameOf('/realtime/rateLimitBurst'), 'must be at least 1')
  if (resolve.production && jwt.secret === DEV_JWT_SECRET) {
    throw new ConfigError(nameOf('/jwt/secret'), 'must be set to a secret of your own in production (NODE_ENV=production)')
  }
  return candidate
}

/** The configuration of a standalone process, from its environment. */
export function configFromEnv(env: NodeJS.ProcessEnv): RealtimeConfig {
  const { options, sources } = optionsFromEnv(env)
  return resolveConfig(options, { production: env.NODE_ENV === 'production', sources })
}

export function usesDevSecret(config: RealtimeConfig): boolean {
  return config.jwt.secret === DEV_JWT_SECRET
}
