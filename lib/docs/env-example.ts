import { configLeaves, type ConfigLeaf } from '../support/config.js'

/** A setting's default as an environment value: empty for unset or an empty list. */
export function envDefault(leaf: ConfigLeaf): string {
  const value = (leaf.schema as { default?: unknown }).default
  if (value === undefined) return ''
  return Array.isArray(value) ? value.join(',') : String(value)
}

const SECTION_TITLES: Record<string, string> = {
  app: 'The HTTP and WebSocket listener',
  database: 'MongoDB, Roomler2’s database',
  jwt: 'Roomler2 access tokens',
  redis: 'Many instances',
  mediasoup: 'Roomler2’s media settings (parsed and validated; no media server is run)',
  turn: 'Roomler2’s TURN settings (parsed and validated)',
  realtime: 'This service’s own limits and keys',
}

/**
 * The text of `.env.example`: every ROOMLER__* variable of the configuration
 * schema, commented out, set to its default, under its description.
 * `npm run env-example` writes it; test/env-example.test.ts keeps it current.
 */
export function renderEnvExample(): string {
  const lines = [
    '# Roomler Realtime: every setting, with its default and meaning.',
    '# Generated from the configuration schema (npm run env-example); do not edit by hand.',
    '#',
    '# Each line below is commented out and shows the default. Set a variable in',
    '# the environment (or uncomment it in a copy named .env, which `docker compose`',
    '# and `docker run --env-file .env` read) to change it. An empty value counts',
    '# as unset. A value that does not parse stops the start, naming the variable.',
  ]
  let section = ''
  for (const leaf of configLeaves) {
    if (leaf.section !== section) {
      section = leaf.section
      lines.push('', `## ${SECTION_TITLES[section] ?? section}`)
    }
    const description = (leaf.schema as { description?: string }).description ?? ''
    const value = (leaf.schema as { default?: unknown }).default
    const note = value === undefined ? ' (default: unset)' : Array.isArray(value) && value.length === 0 ? ' (default: empty)' : ''
    lines.push('', `# ${description}${note}`, `# ${leaf.env}=${envDefault(leaf)}`)
  }
  lines.push(
    '',
    '## The process (not settings of the service)',
    '',
    '# Set to production to refuse the development JWT secret and serve no demo page; the Docker image sets it (default: unset)',
    '# NODE_ENV=',
    '',
    '# Log level of the standalone server: fatal, error, warn, info, debug, trace',
    '# LOG_LEVEL=info',
  )
  return lines.join('\n') + '\n'
}
