/**
 * `.env.example` lists every ROOMLER__* variable of the configuration schema
 * with its default and meaning, and stays in step with it: a setting added to
 * schemas/config.ts without `npm run env-example` fails here.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { configFromEnv, configLeaves } from '../lib/support/config.js'
import { renderEnvExample } from '../lib/docs/env-example.js'

const text = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
const lines = text.split('\n')

/** `# NAME=value` lines: the variables the file shows, with the value shown. */
const shown = new Map<string, { value: string; line: number }>()
lines.forEach((line, index) => {
  const match = /^# ([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
  if (match) shown.set(match[1]!, { value: match[2]!, line: index })
})

t.test('the committed .env.example is what `npm run env-example` writes from the schema today', async (t) => {
  t.equal(text, renderEnvExample(), '.env.example is stale: run npm run env-example')
})

t.test('every variable of the configuration schema is there once, with its default and a description', async (t) => {
  for (const leaf of configLeaves) {
    const count = lines.filter((line) => line.startsWith(`# ${leaf.env}=`)).length
    t.equal(count, 1, `${leaf.env} is listed once`)
    const entry = shown.get(leaf.env)
    if (!entry) continue
    const dflt = (leaf.schema as { default?: unknown }).default
    const expected = dflt === undefined ? '' : Array.isArray(dflt) ? dflt.join(',') : String(dflt)
    t.equal(entry.value, expected, `${leaf.env} shows its default`)
    const description = lines[entry.line - 1] ?? ''
    t.match(description, /^# \S/, `${leaf.env} has its meaning on the line above`)
    t.ok(description.includes((leaf.schema as { description?: string }).description ?? '\u0000'), `${leaf.env}: the schema’s description`)
  }
  const roomler = [...shown.keys()].filter((name) => name.startsWith('ROOMLER__'))
  t.same(roomler.sort(), configLeaves.map((leaf) => leaf.env).sort(), 'no variable the service does not read')
})

t.test('every line uncommented as it stands gives exactly the default configuration', async (t) => {
  // What an operator gets who copies the file to .env and uncomments all of it.
  const env: NodeJS.ProcessEnv = {}
  for (const [name, { value }] of shown) if (name.startsWith('ROOMLER__')) env[name] = value
  t.same(configFromEnv(env), configFromEnv({}))
})
