/**
 * The test run: one FerretDB for every MongoDB-backed test (unless
 * TEST_MONGODB_URL names a real MongoDB), then tap over test/, then FerretDB
 * stopped. Each test file uses a database of its own.
 */
import { spawn } from 'node:child_process'
import { startFerretDB, type RunningFerretDB } from './servers/ferretdb.js'

let ferretdb: RunningFerretDB | undefined
const env = { ...process.env }
if (!env.TEST_MONGODB_URL) {
  ferretdb = await startFerretDB()
  env.TEST_MONGODB_URL = ferretdb.url
  process.stderr.write(`FerretDB for this run: ${ferretdb.url}\n`)
}

const tap = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: 'inherit', env })
const code: number = await new Promise((resolve) => tap.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
await ferretdb?.stop()
process.exit(code)
