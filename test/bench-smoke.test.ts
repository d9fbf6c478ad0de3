/**
 * The benchmark's smoke run (`npm run bench -- --quick`): small counts, one
 * run per server, every scenario. No timing is asserted here (timing belongs
 * in bench/); it fails only when the run itself breaks: a server that does
 * not start, a connection refused, a scenario that delivers nothing.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('..', import.meta.url))
const LIMIT_MS = 280_000
t.setTimeout(LIMIT_MS + 10_000)

t.test('npm run bench -- --quick runs every scenario against the service and both baselines', async (t) => {
  const output: string[] = []
  // dist/ is built by scripts/test.sh before the tests; the smoke run uses it as is.
  const child = spawn(process.execPath, ['bench/run.mjs', '--quick'], { cwd: root, env: { ...process.env, BENCH_NO_BUILD: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  const timer = setTimeout(() => child.kill('SIGTERM'), LIMIT_MS)
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  const text = output.join('')
  t.equal(code, 0, `the quick bench exits 0\n${text.slice(-4000)}`)
  for (const figure of ['KiB per idle connection', 'typing: saturation deliveries/s', 'presence: saturation deliveries/s', '2 instances + Redis', 'application events (roomler)']) {
    t.match(text, figure, `the table has "${figure}"`)
  }
})
