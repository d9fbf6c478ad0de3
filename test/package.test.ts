/**
 * The npm package as a host project meets it: `npm pack` (its prepack builds
 * dist/ from the sources), then a fresh project outside the repository, with
 * its own package.json, installs Fastify, @fastify/jwt, the MongoDB driver,
 * ws and TypeScript from the registry and the tarball by file name, and
 * - type-checks a host (test/package-host/src/index.ts) with `tsc --noEmit`
 *   against the package's declarations: typed decorators and options;
 * - runs it: the host's own routes beside the plugin, a token the host signed
 *   with its own @fastify/jwt, the package's client connected with it, an
 *   event pushed through app.wsDispatcher;
 * - runs the same host in CommonJS, with `await import()` and with `require()`;
 * - runs a host that mounts it under `prefix: '/realtime'` (prefix.mjs).
 * The repository's own dist/ is never touched: the pack runs on a copy.
 */
import t from 'tap'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { full, output, result, run } from './tools/npm-project.js'
import { withoutOffset } from './helper.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FIXTURE = join(ROOT, 'test/package-host')
// npm install from the registry is slow on a cold cache; every step below is bounded too.
t.setTimeout(300_000)

t.test('the package as a host project meets it', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'roomler-package-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  t.ok(relative(ROOT, work).startsWith('..'), `the host project is outside the repository (${work})`)

  // A copy of the repository as a fresh clone has it: no dist/, no caches; its node_modules shared.
  const stage = join(work, 'stage')
  const skip = new Set(['node_modules', 'dist', '.git', '.cache', '.tap', 'test-output', 'bench'])
  await cp(ROOT, stage, { recursive: true, filter: (source) => !skip.has(relative(ROOT, source).split('/')[0]!) })
  await symlink(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir')
  const packs = join(work, 'packs')
  await mkdir(packs)

  let tarball = ''
  await t.test('npm pack builds the package: JavaScript and declarations, no sources, tests or servers', async (t) => {
    const packed = await run('npm', ['pack', '--pack-destination', packs], stage, 180_000)
    t.equal(packed.code, 0, `npm pack\n${output(packed)}`)
    const [name] = await readdir(packs)
    t.match(name, /^roomler-realtime-\d+\.\d+\.\d+\.tgz$/)
    const listing = await run('tar', ['-tzf', join(packs, name!)], work, 30_000)
    const files = listing.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''))
    for (const expected of [
      'package.json',
      'README.md',
      'dist/app.js',
      'dist/app.d.ts',
      'dist/plugins/dispatcher.d.ts',
      'dist/schemas/index.js',
      'dist/schemas/index.d.ts',
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'generated/asyncapi.json',
      'generated/json-schema/server/connected.json',
      'generated/json-schema/client/typing-start.json',
    ]) {
      t.ok(files.includes(expected), `${expected} is in the package`)
    }
    const unwanted = files.filter(
      (f) =>
        /^(test|bench|scripts|docs|public|\.cache)\//.test(f) ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
        f.endsWith('.go') ||
        f.endsWith('.map') ||
        /^dist\/server\./.test(f) ||
        /^(Dockerfile|compose\.yaml|\.env)/.test(f),
    )
    t.same(unwanted, [], 'no sources, tests, benches, test servers, scripts, source maps or deployment files')
    const extracted = join(work, 'extracted')
    await mkdir(extracted)
    await run('tar', ['-xzf', join(packs, name!), '-C', extracted], work, 30_000)
    const app = await readFile(join(extracted, 'package/dist/app.js'), 'utf8')
    t.notMatch(app, /sourceMappingURL/, 'no reference to a source map the package does not carry')
    const manifest = JSON.parse(await readFile(join(stage, 'package.json'), 'utf8'))
    t.equal(manifest.type, 'module', 'an ES module package')
    for (const target of Object.values(manifest.exports as Record<string, string | Record<string, string>>).flatMap((e) =>
      typeof e === 'string' ? [e] : Object.values(e),
    )) {
      const path = target.replace(/^\.\//, '')
      t.ok(path.includes('*') ? files.some((f) => f.startsWith(path.split('*')[0]!)) : files.includes(path), `exports → ${target} is in the package`)
    }
    tarball = join(packs, name!)
  })

  const ours = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
  const host = join(work, 'host')

  t.test('a fresh host project installs the tarball by file name beside its own dependencies', async (t) => {
    await mkdir(host)
    await writeFile(join(host, 'package.json'), JSON.stringify({ name: 'host-api', version: '1.0.0', private: true, type: 'module' }, null, 2))
    // The same ranges this repository uses, so that an npm cache from its install serves them.
    const wanted = [
      `fastify@${ours.dependencies.fastify}`,
      `@fastify/jwt@${ours.dependencies['@fastify/jwt']}`,
      `mongodb@${ours.dependencies.mongodb}`,
      `ws@${ours.devDependencies.ws}`,
      `typescript@${ours.devDependencies.typescript}`,
      `@types/node@${ours.devDependencies['@types/node']}`,
    ]
    const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...wanted, tarball], host, 240_000)
    t.equal(installed.code, 0, `npm install\n${output(installed)}`)
    const manifest = JSON.parse(await readFile(join(host, 'package.json'), 'utf8'))
    t.match(manifest.dependencies['roomler-realtime'], /^file:.*roomler-realtime-.*\.tgz$/, 'the tarball, by file name')
    await cp(FIXTURE, host, { recursive: true })
  })

  t.test('the host type-checks against the package’s declarations (tsc --noEmit, strict, no skipLibCheck)', async (t) => {
    const tsc = join(host, 'node_modules/typescript/bin/tsc')
    const checked = await run(process.execPath, [tsc, '--noEmit', '-p', '.'], host, 120_000)
    t.equal(checked.code, 0, `tsc --noEmit: the decorators, options and client are typed\n${output(checked)}`)
    // The fixture's @ts-expect-error lines prove the types are not `any`: here they must all be used.
    const source = await readFile(join(host, 'src/index.ts'), 'utf8')
    t.equal(source.match(/@ts-expect-error/g)?.length, 4, 'four misuses are expected not to compile')
    const emitted = await run(process.execPath, [tsc, '-p', '.', '--noCheck'], host, 120_000)
    t.equal(emitted.code, 0, `tsc emits the host's JavaScript\n${output(emitted)}`)

    // And a misuse makes tsc fail, naming it: the check is not vacuous.
    await writeFile(join(host, 'src/wrong.ts'), "import Fastify from 'fastify'\nimport 'roomler-realtime'\nconst app = Fastify()\nexport const n: string = app.wsRegistry.connectionCount\n")
    const wrong = await run(process.execPath, [tsc, '--noEmit', '-p', '.'], host, 120_000)
    await rm(join(host, 'src/wrong.ts'))
    t.not(wrong.code, 0, 'a number used as a string is refused')
    t.match(wrong.stdout, /wrong\.ts.*Type 'number' is not assignable to type 'string'/)
  })

  t.test('ESM host: its routes beside the plugin, its token, an event through the dispatcher', async (t) => {
    const ran = await run(process.execPath, ['dist/index.js'], host, 60_000)
    t.equal(ran.code, 0, `exits 0${output(ran)}`)
    const r = result(ran)
    t.ok(r, r ? 'a RESULT line' : `a RESULT line\n${full(ran)}`)
    if (!r) return
    t.same(r.received, { text: 'pushed by the host' }, 'the client received the event the host pushed with app.wsDispatcher.sendToUser')
    t.same(r.pushed, { status: 200, body: { connections: 1 } }, 'app.wsRegistry.connectionCount counted the connection')
    t.equal(r.userId, '64d0000000000000000000a1', 'connected as the user of the token the host signed')
    t.same(r.hello, { hello: 'from the host' }, 'the host’s own route still answers')
    t.equal(r.health, 200, 'and the plugin’s /health')
    t.equal(r.refused, 401, 'a badly signed token is refused')
    t.same(r.decorators, { wsDispatcher: 'function', wsRegistry: 'number' })
    t.same(r.exports, {
      CloseCode: 1001,
      ConfigError: 'function',
      configSections: ['app', 'database', 'jwt', 'redis', 'mediasoup', 'turn', 'realtime'],
      serverMessages: 7,
      asyncapi: '3.0.0',
      connectedSchema: 'connected',
      deepImport: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    }, 'roomler-realtime/schemas, /client, /asyncapi.json and /json-schema/* are exported; internals are not')
  })

  t.test('under a prefix: /realtime/ws and /realtime/health, the host’s own /health beside them', async (t) => {
    const ran = await run(process.execPath, ['prefix.mjs'], host, 60_000)
    t.equal(ran.code, 0, `exits 0${output(ran)}`)
    const r = result(ran)
    t.ok(r, r ? 'a RESULT line' : `a RESULT line\n${full(ran)}`)
    if (!r) return
    t.same(withoutOffset(r.connected), { type: 'connected', data: { user_id: '64d0000000000000000000c3' } }, 'a host-signed token connects at /realtime/ws')
    t.same(r.health, { status: 200, body: { status: 'ok' } }, 'GET /realtime/health is the plugin’s')
    t.same(r.hostHealth, { status: 200, body: { host: 'healthy' } }, 'GET /health is the host’s')
    t.equal(r.rootWs, 404, 'nothing of the plugin’s at the root /ws')
    t.equal(r.closeCode, 1001, 'the host’s close: 1001')
  })

  for (const [script, how] of [
    ['cjs-import.cjs', 'import()'],
    ['cjs-require.cjs', 'require()'],
  ] as const) {
    t.test(`CommonJS host with ${how}`, async (t) => {
      const ran = await run(process.execPath, [script], host, 60_000)
      t.equal(ran.code, 0, `exits 0${output(ran)}`)
      t.notMatch(ran.stderr, /ExperimentalWarning|ERR_REQUIRE_ESM/, 'no warning, no error')
      const r = result(ran)
      t.ok(r, r ? 'a RESULT line' : `a RESULT line\n${full(ran)}`)
      if (!r) return
      t.same(withoutOffset(r.connected!), { type: 'connected', data: { user_id: '64d0000000000000000000b2' } })
      t.same(withoutOffset(r.note!), { type: 'note:new', data: { text: `pushed by a CommonJS host (${how})` } })
      t.equal(r.connections, 1)
      t.same(r.hello, { hello: 'from the host' })
    })
  }
})
