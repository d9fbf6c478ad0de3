/**
 * The test run: one FerretDB for every MongoDB-backed test (unless
 * TEST_MONGODB_URL names a real MongoDB), then tap over test/, then FerretDB
 * stopped. Each test file uses a database of its own. Ends with the plain
 * `N passed, N failed` line that CI reads.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { startFerretDB, type RunningFerretDB } from './servers/ferretdb.js'

let ferretdb: RunningFerretDB | undefined
const env = { ...process.env }
if (!env.TEST_MONGODB_URL) {
  ferretdb = await startFerretDB()
  env.TEST_MONGODB_URL = ferretdb.url
  process.stderr.write(`FerretDB for this run: ${ferretdb.url}\n`)
}

const tap = spawn('npx', ['tap', '--reporter=tap', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'], env })
let summary: Record<string, number> | undefined
createInterface({ input: tap.stdout! }).on('line', (line) => {
  process.stdout.write(line + '\n')
  // tap's closing line: # { total: 12, pass: 11, fail: 1, skip: 0 }
  const match = /^# \{ (total: \d+.*) \}$/.exec(line)
  if (match) summary = Object.fromEntries(match[1]!.split(', ').map((pair) => [pair.split(': ')[0], Number(pair.split(': ')[1])]))
})
const code: number = await new Promise((resolve) => tap.once('close', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
await ferretdb?.stop()
if (summary) {
  const skipped = (summary.skip ?? 0) + (summary.todo ?? 0)
  process.stdout.write(`\n${summary.pass ?? 0} passed, ${summary.fail ?? 0} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
} else {
  process.stdout.write('\n0 passed, 1 failed (tap printed no summary)\n')
}
process.exit(code === 0 && !summary ? 1 : code)
