/**
 * The real host's /metrics (test/host/real-host-app.ts): fastify-metrics 13
 * serves prom-client's default registry, and the plugin's series land there
 * beside the host's without a duplicate-registration error; the scrape passes
 * the real `promtool check metrics` (built from the Go module proxy into
 * .cache/bin by scripts/test.sh): the merged text parses, and our families
 * lint clean (the host's own defaults have lint findings of their own:
 * fastify-metrics' `*_summary_seconds`, prom-client's `nodejs_active_*_total`
 * gauges); closing the host takes our series out.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import promClient from 'prom-client'
import { eventually, objectId } from '../helper.js'
import { probe } from './probe.js'
import { PUBLISH_KEY, realHost } from './real-host-app.js'

const PROMTOOL = fileURLToPath(new URL('../../.cache/bin/promtool', import.meta.url))
const PROMTOOL_FAILED = fileURLToPath(new URL('../../.cache/promtool-build/failed', import.meta.url))
const PROMTOOL_LOG = fileURLToPath(new URL('../../.cache/promtool-build/log', import.meta.url))
/** How long the test waits for the background build of a fresh machine. */
const PROMTOOL_BUILD_MS = 25 * 60_000
t.setTimeout(PROMTOOL_BUILD_MS + 120_000)

/** `promtool check metrics` on `text` (its stdin): exit code and what it printed. */
function promtoolCheck(text: string, args: string[] = []): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ['check', 'metrics', ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.stdout.on('data', (chunk: Buffer) => (output += chunk))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk))
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
    child.stdin.end(text)
  })
}

/** The families of an exposition whose name starts with `prefix` (their HELP, TYPE and samples). */
function familiesOf(text: string, prefix: string): string {
  let current = ''
  const kept: string[] = []
  for (const line of text.split('\n')) {
    const family = /^# (?:HELP|TYPE) (\S+)/.exec(line)?.[1]
    if (family) current = family
    if (current.startsWith(prefix) && line !== '') kept.push(line)
  }
  return kept.join('\n') + '\n'
}

t.test('the host’s /metrics: its series and the plugin’s in one registry, and promtool check metrics passes', async (t) => {
  const { base, connect, membership } = await realHost(t)
  const [ada, grace, channel] = [objectId(), objectId(), objectId()]
  membership.addMember(channel, ada)
  membership.addMember(channel, grace)
  const adaClient = await connect(ada)
  const graceClient = await connect(grace)
  adaClient.send({ type: 'typing:start', data: { channel_id: channel } })
  await graceClient.next('typing:start')
  const published = await probe(base, '/realtime/publish', {
    method: 'POST',
    body: JSON.stringify({ type: 'note:new', data: { n: 1 }, everyone: true }),
    headers: { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' },
  })
  t.equal(published.status, 202)
  await graceClient.next('note:new')
  await probe(base, '/api/items')

  const scrape = await probe(base, '/metrics')
  t.equal(scrape.status, 200, 'the host’s fastify-metrics endpoint')
  t.match(String(scrape.headers['content-type']), /^text\/plain/)
  const text = scrape.body
  t.match(text, /^roomler_connections 2$/m, 'our gauges, read at scrape time')
  t.match(text, /^roomler_users 2$/m)
  t.match(text, /^roomler_messages_out_total\{type="note:new"\} 2$/m, 'our labelled counters')
  for (const histogram of ['roomler_event_fanout_connections', 'roomler_event_delivery_seconds']) {
    t.match(text, new RegExp(`^${histogram}_count [1-9]`, 'm'), `our histogram ${histogram}`)
  }
  t.match(text, /^process_cpu_seconds_total /m, 'the host’s default process metrics')
  t.match(text, /^http_request_duration_seconds_count\{.*route="\/api\/items".*\} 1$/m, 'the host’s route metrics for its own route')
  const types = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!)
  t.same(types.filter((name, i) => types.indexOf(name) !== i), [], 'every series family once')

  // scripts/test.sh builds promtool in the background on a fresh machine: wait for it, or for its failure.
  await eventually(() => existsSync(PROMTOOL) || existsSync(PROMTOOL_FAILED), PROMTOOL_BUILD_MS, 'promtool built by scripts/test.sh').catch(() => {})
  if (!existsSync(PROMTOOL)) {
    const log = existsSync(PROMTOOL_LOG) ? readFileSync(PROMTOOL_LOG, 'utf8').slice(-2000) : '(no build log)'
    t.fail(`no promtool at .cache/bin/promtool: scripts/test.sh builds it (go install github.com/prometheus/prometheus/cmd/promtool)\n${log}`)
    return
  }
  // Exit 1 is unparsable text; 3 is lint findings only.
  const parsed = await promtoolCheck(text, ['--lint=none', '--extended'])
  t.equal(parsed.code, 0, `promtool check metrics --lint=none --extended: the merged scrape parses\n${parsed.output.slice(0, 2000)}`)
  t.match(parsed.output, /roomler_event_delivery_seconds/, 'and promtool read our families in it')
  t.same(await promtoolCheck(familiesOf(text, 'roomler_')), { code: 0, output: '' }, 'promtool check metrics on our families: no lint finding')
  const whole = await promtoolCheck(text)
  const findings = whole.output.split('\n').filter(Boolean)
  t.ok(whole.code === 0 || whole.code === 3, `the whole scrape: no error (exit ${whole.code})`)
  t.same(findings.filter((finding) => finding.includes('roomler_')), [], 'none of the whole scrape’s lint findings is ours')
  // What is left is the host's own (fastify-metrics' summary name, prom-client's nodejs_*_total gauges).
  t.comment(`lint findings of the host’s own series: ${findings.join('; ') || 'none'}`)

  const ours = await probe(base, '/realtime/metrics')
  t.same([ours.status, JSON.parse(ours.body)], [404, { error: 'not_found', message: 'no such route' }], 'no second /metrics of ours under the prefix')
})

t.test('closing the host takes the plugin’s series out of prom-client’s default registry', async (t) => {
  const { app } = await realHost(t)
  t.ok(promClient.register.getSingleMetric('roomler_connections'), 'there while the host runs')
  await app.close()
  const left = promClient.register.getMetricsAsArray().map((metric) => (metric as unknown as { name: string }).name).filter((name) => name.startsWith('roomler_'))
  t.same(left, [], 'none left behind for the next registration')
  t.ok(promClient.register.getSingleMetric('process_cpu_seconds_total'), 'the host’s own are the host’s to keep')
})
