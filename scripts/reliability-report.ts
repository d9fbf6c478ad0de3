/**
 * Renders docs/RELIABILITY.md from the figures the reliability tests wrote
 * into test-output/reliability/ on their last run (`npm test` first).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { figuresDir, type Figures } from '../test/reliability/record.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** Sections in reading order: figure file → heading and the test that writes it. */
const sections: Array<[string, string, string]> = [
  ['fuzz', 'Bad input: the fuzzer', 'test/reliability/fuzz.test.ts'],
  ['fuzz-payload', 'Bad input: oversized frames', 'test/reliability/oversized-frames.test.ts'],
  ['tokens', 'Hostile tokens', 'test/reliability/tokens.test.ts'],
  ['tokens-refresh', 'Hostile tokens through auth:refresh', 'test/reliability/tokens.test.ts'],
  ['churn', 'Churn', 'test/reliability/churn.test.ts'],
  ['faults-database-down', 'Faults: the database stopped and restarted', 'test/reliability/faults.test.ts'],
  ['faults-slow-database', 'Faults: presence while the database is stopped (SIGSTOP)', 'test/faults/slow-database.test.ts'],
  ['faults-membership-down', 'Faults: control frames and typing while the database is stopped (SIGSTOP)', 'test/faults/control-frames.test.ts'],
  ['faults-start-database-down', 'Faults: starting while the database is down', 'test/reliability/faults.test.ts'],
  ['faults-sigkill', 'Faults: SIGKILL of the server', 'test/reliability/faults.test.ts'],
  ['slow-consumer', 'Slow consumer', 'test/reliability/slow-consumer.test.ts'],
  ['cluster-instance-death', 'Many instances: SIGKILL of one', 'test/redis/instance-death.test.ts'],
  ['cluster-redis-outage', 'Many instances: Redis stopped and restarted', 'test/redis/redis-outage.test.ts'],
  ['cluster-latency', 'Many instances: cross-instance latency', 'test/redis/delivery-across-instances.test.ts'],
  ['redis-subscriber-blip', 'Many instances: a subscriber connection killed', 'test/faults/redis-blips.test.ts'],
  ['instance-sigterm-typing', 'Many instances: SIGTERM mid-typing', 'test/faults/instance-loss.test.ts'],
  ['instance-sigkill-typing', 'Many instances: SIGKILL mid-typing', 'test/faults/instance-loss.test.ts'],
  ['cluster-crash-redis-kept', 'Many instances: the whole cluster SIGKILLed (Redis kept its state)', 'test/faults/instance-loss.test.ts'],
  ['cluster-crash-redis-lost', 'Many instances: the whole cluster SIGKILLed (Redis restarted empty)', 'test/faults/instance-loss.test.ts'],
]

const available = new Set(readdirSync(figuresDir).map((name) => name.replace(/\.json$/, '')))
const lines = [
  '# Reliability',
  '',
  'What the reliability suite tried against the real service (with a real FerretDB,',
  'and real `redis-server` processes for many instances), what held, and the figures',
  'of the last run. The suite is part of `npm test`; every section names its test.',
  'Regenerate this page after a run with `npm run reliability:report`.',
  '',
  'Timings come from a shared 2-core machine running the whole suite in parallel:',
  'they are what one run measured, not targets, and no test asserts them.',
  '',
]
for (const [name, heading, test] of sections) {
  if (!available.has(name)) continue
  const figures = JSON.parse(readFileSync(join(figuresDir, `${name}.json`), 'utf8')) as Figures & { at: string }
  lines.push(`## ${heading}`, '', `**Tried:** ${figures.tried}.`, '', `**Held:** ${figures.held}.`, '')
  lines.push('| figure | value |', '|---|---|')
  for (const [key, value] of Object.entries(figures.figures)) lines.push(`| ${key.replace(/_/g, ' ')} | ${value} |`)
  lines.push('', `Rerun: \`npm test -- ${test}\` (last run ${figures.at.slice(0, 16).replace('T', ' ')} UTC).`, '')
}
const missing = sections.filter(([name]) => !available.has(name)).map(([name]) => name)
if (missing.length > 0) process.stderr.write(`no figures yet for: ${missing.join(', ')}\n`)
writeFileSync(join(root, 'docs/RELIABILITY.md'), lines.join('\n'))
process.stdout.write(`wrote docs/RELIABILITY.md (${sections.length - missing.length} sections)\n`)
