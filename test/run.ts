/**
 * The test run: one FerretDB for every MongoDB-backed test (unless
 * TEST_MONGODB_URL names a real MongoDB), then tap, then FerretDB stopped.
 * Each test file uses a database of its own. Ends with the plain
 * `N passed, N failed` line that CI reads.
 *
 * Without arguments, the quick files run two at a time, then the heavy ones
 * (load, browsers, package installs) one at a time: on two cores a churn of
 * thousands of connections beside a headless Chromium measures the machine,
 * not the service. With file arguments, just those files, as tap runs them.
 */
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { startFerretDB, type RunningFerretDB } from './servers/ferretdb.js'

/** Files that load the machine: each runs alone. */
const HEAVY = [
  'test/reliability/churn.test.ts',
  'test/reliability/fuzz.test.ts',
  'test/reliability/oversized-frames.test.ts',
  'test/reliability/slow-consumer.test.ts',
  'test/reliability/faults.test.ts',
  'test/redis/instance-death.test.ts',
  'test/redis/redis-outage.test.ts',
  'test/faults/slow-database.test.ts',
  'test/faults/control-frames.test.ts',
  'test/faults/typing-races.test.ts',
  'test/faults/redis-blips.test.ts',
  'test/faults/instance-loss.test.ts',
  'test/client/resume-instances.test.ts',
  'test/faults/orphans.test.ts',
  'test/faults/lost-announcement.test.ts',
  'test/typing/shutdown.test.ts',
  'test/e2e-browser.test.ts',
  'test/e2e-cross-origin.test.ts',
  'test/package.test.ts',
  'test/client/package.test.ts',
  'test/host/real-host-metrics.test.ts',
  'test/deploy.test.ts',
  'test/bench-smoke.test.ts',
  'test/polyglot/polyglot.test.ts',
]

function testFiles(): string[] {
  return (readdirSync('test', { recursive: true }) as string[])
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => `test/${name}`)
    .sort()
}

type Summary = Record<string, number>

function runTap(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; summary?: Summary }> {
  const tap = spawn('npx', ['tap', '--reporter=tap', ...args], { stdio: ['inherit', 'pipe', 'inherit'], env })
  let summary: Summary | undefined
  createInterface({ input: tap.stdout! }).on('line', (line) => {
    process.stdout.write(line + '\n')
    // tap's closing line: # { total: 12, pass: 11, fail: 1, skip: 0 }
    const match = /^# \{ (total: \d+.*) \}$/.exec(line)
    if (match) summary = Object.fromEntries(match[1]!.split(', ').map((pair) => [pair.split(': ')[0], Number(pair.split(': ')[1])]))
  })
  return new Promise((resolve) => tap.once('close', (c, signal) => resolve({ code: c ?? (signal ? 1 : 0), summary })))
}

let ferretdb: RunningFerretDB | undefined
const env = { ...process.env }
if (!env.TEST_MONGODB_URL) {
  ferretdb = await startFerretDB()
  env.TEST_MONGODB_URL = ferretdb.url
  process.stderr.write(`FerretDB for this run: ${ferretdb.url}\n`)
}

const args = process.argv.slice(2)
const runs: string[][] = []
if (args.some((arg) => !arg.startsWith('-'))) {
  runs.push(args)
} else {
  const all = testFiles()
  const heavy = all.filter((file) => HEAVY.includes(file))
  runs.push([...args, ...all.filter((file) => !HEAVY.includes(file))])
  if (heavy.length > 0) runs.push([...args, '--jobs=1', ...heavy])
}

let code = 0
const total: Summary = {}
let summaries = 0
for (const run of runs) {
  const result = await runTap(run, env)
  if (result.code !== 0) code = result.code
  if (result.summary) {
    summaries++
    for (const [key, value] of Object.entries(result.summary)) total[key] = (total[key] ?? 0) + value
  }
}
await ferretdb?.stop()
if (summaries === runs.length) {
  const skipped = (total.skip ?? 0) + (total.todo ?? 0)
  process.stdout.write(`\n${total.pass ?? 0} passed, ${total.fail ?? 0} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
} else {
  process.stdout.write(`\n${total.pass ?? 0} passed, ${(total.fail ?? 0) + 1} failed (a tap run printed no summary)\n`)
  code ||= 1
}
process.exit(code)
