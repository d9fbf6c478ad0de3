/**
 * The client as its own package (issue 12): `npm pack` in client/ builds
 * roomler-realtime-client (ESM and declarations, its prepack running tsc),
 * and a fresh browser-style project outside the repository
 * - installs the tarball alone: nothing else comes with it;
 * - type-checks a page (test/client/package-consumer/src/page.ts) against
 *   its declarations with DOM types, bundler resolution and no Node types;
 * - runs the page against the live service, `ws` standing in for the
 *   browser's WebSocket: connected, its own presence, a pushed event, a ping.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { build, objectId, WAIT_MS } from '../helper.js'
import { env, full, output, run } from '../tools/npm-project.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CONSUMER = join(ROOT, 'test/client/package-consumer')
t.setTimeout(300_000)

t.test('roomler-realtime-client: packed, installed alone in a fresh project, compiled and run against the service', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'roomler-client-package-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  t.ok(relative(ROOT, work).startsWith('..'), 'the project is outside the repository')

  // client/ as a fresh clone has it (no dist/), beside the repository's node_modules for its build's tsc.
  const stage = join(work, 'stage')
  await cp(join(ROOT, 'client'), join(stage, 'client'), { recursive: true, filter: (source) => !relative(join(ROOT, 'client'), source).startsWith('dist') })
  await symlink(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir')
  const packs = join(work, 'packs')
  await mkdir(packs)
  const packed = await run('npm', ['pack', '--pack-destination', packs], join(stage, 'client'), 120_000)
  t.equal(packed.code, 0, `npm pack\n${output(packed)}`)
  const [name] = await readdir(packs)
  t.equal(name, 'roomler-realtime-client-0.1.0.tgz')
  const tarball = join(packs, name!)

  const listing = await run('tar', ['-tzf', tarball], work, 30_000)
  const files = listing.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''))
  for (const expected of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/realtime-client.js', 'dist/protocol.d.ts']) {
    t.ok(files.includes(expected), `${expected} is in the package`)
  }
  t.same(files.filter((f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.endsWith('.map') || f.includes('tsconfig')), [], 'no sources, maps or build files')
  await mkdir(join(work, 'extracted'))
  await run('tar', ['-xzf', tarball, '-C', join(work, 'extracted')], work, 30_000)
  const manifest = JSON.parse(await readFile(join(work, 'extracted/package/package.json'), 'utf8'))
  t.same(manifest.dependencies ?? {}, {}, 'no runtime dependency')
  t.equal(manifest.license, 'UNLICENSED', 'the license the project states (generated/asyncapi.json says the same)')
  const shipped = (await Promise.all(files.filter((f) => f.endsWith('.js') || f.endsWith('.d.ts')).map((f) => readFile(join(work, 'extracted/package', f), 'utf8')))).join('\n')
  t.notMatch(shipped, /from '(?!\.\/)[^']+'/, 'every import is one of its own modules: nothing from the server, TypeBox or Node')

  const page = join(work, 'page')
  await mkdir(page)
  await writeFile(join(page, 'package.json'), JSON.stringify({ name: 'chat-page', version: '1.0.0', private: true, type: 'module' }, null, 2))
  const alone = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], page, 120_000)
  t.equal(alone.code, 0, `npm install the tarball\n${output(alone)}`)
  const installed = (await readdir(join(page, 'node_modules'))).filter((entry) => !entry.startsWith('.'))
  t.same(installed, ['roomler-realtime-client'], 'it installs alone: not one other package')

  const ours = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
  // The page's own tools: TypeScript to compile it, ws as Node's stand-in for the browser's WebSocket.
  const tools = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `typescript@${ours.devDependencies.typescript}`, `ws@${ours.devDependencies.ws}`], page, 180_000)
  t.equal(tools.code, 0, `npm install typescript ws\n${output(tools)}`)
  await cp(CONSUMER, page, { recursive: true })

  const tsc = join(page, 'node_modules/typescript/bin/tsc')
  const checked = await run(process.execPath, [tsc, '-p', '.'], page, 120_000)
  t.equal(checked.code, 0, `tsc: the page compiles against the declarations (strict, DOM, no skipLibCheck)\n${output(checked)}`)
  t.equal((await readFile(join(page, 'src/page.ts'), 'utf8')).match(/@ts-expect-error/g)?.length, 3, 'and its three misuses are refused')

  const { app, wsUrl, token } = await build(t)
  const user = objectId()
  const child = spawn(process.execPath, ['run.mjs'], { cwd: page, env: { ...env, REALTIME_URL: wsUrl, REALTIME_TOKEN: token(user) }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const lines: string[] = []
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the page never said READY; stderr:\n${stderr}`)), WAIT_MS * 2)
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line)
      if (line === 'READY') {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('close', () => reject(new Error(`the page exited before READY; ${full({ code: child.exitCode ?? 1, stdout: lines.join('\n'), stderr })}`)))
  })
  app.wsDispatcher.sendToUser(user, { type: 'note:new', data: { text: 'pushed to the page' } })
  t.equal(await exited, 0, `the page exits 0\n${stderr}`)
  const line = lines.find((l) => l.startsWith('RESULT '))
  const r = line ? JSON.parse(line.slice('RESULT '.length)) : undefined
  t.same(r, {
    userId: user,
    note: 'pushed to the page',
    ownPresence: 'dnd',
    states: ['connecting', 'open', 'closed'],
    pinged: true,
    typingHelper: 'function',
  }, 'the page connected, saw its own presence change, received the pushed event, pinged and closed')
})
