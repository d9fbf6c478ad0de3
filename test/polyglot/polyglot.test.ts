/**
 * Issue 12's proof: from the published documents, types generated with the
 * tools teams use compile in each language this machine builds, and decode
 * every golden frame (generated/vectors/): each valid one to the right
 * variant with the same fields (decoded, then encoded again, it is the same
 * JSON), application events and unknown error codes as such; each invalid
 * one is refused exactly where README "Clients" says that decoder refuses it.
 * Slow (a cold run installs the tools into .cache/polyglot): a HEAVY file.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { goldenFrames, type GoldenFrame } from '../../lib/docs/vectors.js'
import * as generate from './generate.js'
import { decodeRefusals } from './refusals.js'
import { installJavaLibs, installNpmTools, ROOT } from './tools.js'

const exec = promisify(execFile)
const VECTORS = ['client', 'server'].map((direction) => join(ROOT, `generated/vectors/${direction}.json`))
const golden = [...goldenFrames('client'), ...goldenFrames('server')]

interface Decoded {
  name: string
  direction: string
  variant?: string
  json?: unknown
  error?: string
}

async function sh(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await exec(command, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 << 20 })
    return stdout
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${e.stderr || e.stdout || e.message}`.slice(0, 6000))
  }
}

/** `ping`'s data may be left out: a decoder that drops an empty one (Go's `omitempty`) keeps the meaning. */
function withoutEmptyPingData(frame: unknown): unknown {
  const f = frame as { type?: unknown; data?: object }
  if (f?.type === 'ping' && f.data && Object.keys(f.data).length === 0) return { type: 'ping' }
  return frame
}

/**
 * Modelina renders an optional boolean in Go as `bool` with `omitempty`: `recovered: false` decodes as false and
 * is left out when encoded again. A client knows whether it resumed (it sent `since`), so false and absent read
 * the same to it there; README says so. Every other decoder keeps it.
 */
function withoutFalseRecovered(decoder: string, frame: unknown): unknown {
  const f = frame as { type?: unknown; data?: Record<string, unknown> }
  if (decoder !== 'modelina-go' || f?.type !== 'connected' || f.data?.recovered !== false) return frame
  const { recovered: _, ...data } = f.data
  return { ...f, data }
}

/** Checks every line a harness printed against the golden frames. */
function checkDecoded(t: Test, decoder: keyof typeof decodeRefusals, output: string): void {
  const results = new Map(
    output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Decoded)
      .map((r) => [`${r.direction}/${r.name}`, r]),
  )
  const refused = new Set(decodeRefusals[decoder])
  if (process.env.POLYGLOT_PRINT_REFUSALS) {
    process.stderr.write(`${decoder}: ${JSON.stringify([...results].filter(([k, r]) => r.error && golden.find((g) => `${g.direction}/${g.name}` === k && !g.valid)).map(([k]) => k))}\n`)
  }
  for (const frame of golden) {
    const key = `${frame.direction}/${frame.name}`
    const result = results.get(key)
    if (!result) {
      t.fail(`${decoder}: no result for ${key}`)
      continue
    }
    if (frame.valid) {
      t.equal(result.error, undefined, `${decoder} decodes ${key}`)
      t.equal(result.variant, frame.variant, `${decoder}: ${key} is a ${frame.variant}`)
      t.same(withoutEmptyPingData(result.json), withoutFalseRecovered(decoder, withoutEmptyPingData(frame.frame)), `${decoder}: ${key} has the same fields`)
    } else if (refused.has(key)) {
      t.ok(result.error, `${decoder} refuses ${key} (${frame.note || frame.fault})`)
    } else {
      t.equal(result.error, undefined, `${decoder} does not validate what ${key} breaks (${frame.fault}), as README says`)
    }
  }
}

let work: string
let nodeModules: string
t.before(async () => {
  nodeModules = installNpmTools()
  work = await mkdtemp(join(tmpdir(), 'roomler-polyglot-'))
})
t.teardown(() => rm(work, { recursive: true, force: true }))

for (const [decoder, make] of [
  ['modelina-go', generate.modelinaGo],
  ['quicktype-go', generate.quicktypeGo],
] as const) {
  t.test(`${decoder}: go vet, go build, and every golden frame decoded`, async (t) => {
    const dir = await make(nodeModules, work)
    const env = { GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' }
    await sh('go', ['vet', './...'], dir, env)
    await sh('go', ['build', '-o', 'decode', '.'], dir, env)
    checkDecoded(t, decoder, await sh(join(dir, 'decode'), VECTORS, dir))
  })
}

for (const [decoder, make, module] of [
  ['modelina-python', generate.modelinaPython, 'asyncapimodels'],
  ['quicktype-python', generate.quicktypePython, 'realtime'],
] as const) {
  t.test(`${decoder}: imports, and every golden frame decoded`, async (t) => {
    const dir = await make(nodeModules, work)
    await sh('python3', ['-c', `import ${module}`], dir)
    checkDecoded(t, decoder, await sh('python3', ['decode.py', module, 'dispatch.json', ...VECTORS], dir))
  })
}

t.test('modelina-java: javac with Jackson, and every golden frame decoded', async (t) => {
  const classpath = installJavaLibs()
  const dir = await generate.modelinaJava(nodeModules, work)
  const sources = (await sh('find', ['src', '-name', '*.java'], dir)).trim().split('\n')
  await sh('javac', ['-Xlint:none', '-d', 'classes', '-cp', classpath, ...sources], dir)
  checkDecoded(t, 'modelina-java', await sh('java', ['-cp', `classes:${classpath}`, 'Decode', 'realtime', 'dispatch.json', ...VECTORS], dir))
})

t.test('quicktype-typescript: tsc --strict, and every golden frame decoded by its checking converters', async (t) => {
  const dir = join(work, 'quicktype-ts')
  await sh('mkdir', ['-p', dir], work)
  await writeFile(join(dir, 'realtime.ts'), await generate.quicktype(nodeModules, 'typescript'))
  await writeFile(join(dir, 'dispatch.json'), JSON.stringify(generate.dispatchTable()))
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n')
  await writeFile(join(dir, 'decode.mts'), await readFile(join(ROOT, 'test/polyglot/harness/decode.mts'), 'utf8'))
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
  await sh(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--resolveJsonModule', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types'), 'decode.mts'], dir)
  checkDecoded(t, 'quicktype-typescript', await sh(process.execPath, ['--import', import.meta.resolve('tsx'), 'decode.mts', ...VECTORS], dir))
})

t.test('json-schema-to-typescript: tsc --strict accepts every valid golden frame as a ClientFrame or ServerFrame', async (t) => {
  const dir = generate.json2ts(work)
  const frames = golden
    .filter((g) => g.valid)
    .map((g, i) => `export const valid${i}: ${g.direction === 'client' ? 'ClientFrame' : 'ServerFrame'} = ${JSON.stringify(g.frame)}`)
  await writeFile(join(dir, 'check.ts'), ["import type { ClientFrame } from './client/frame.js'", "import type { ServerFrame } from './server/frame.js'", ...frames, ''].join('\n'))
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
  await sh(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types'), 'check.ts'], dir)
  t.pass(`tsc --strict accepts all ${frames.length} valid golden frames`)
})

t.test('Swift and Dart (quicktype), Kotlin and Dart (Modelina): generated, every message named (no compiler on this machine)', async (t) => {
  for (const lang of ['swift', 'dart']) {
    const code = await generate.quicktype(nodeModules, lang)
    for (const name of new Set(golden.filter((g) => g.valid).map((g) => g.variant!))) t.match(code, new RegExp(`\\b(class|struct) ${name}\\b`), `quicktype ${lang}: ${name}`)
    t.equal(balanced(code), true, `quicktype ${lang}: brackets balance`)
  }
  for (const lang of ['Kotlin', 'Dart'] as const) {
    const dir = await generate.modelinaOther(nodeModules, work, lang)
    const files = (await sh('ls', [dir], dir)).trim().split('\n')
    t.ok(files.length >= 20, `Modelina ${lang}: a file per model`)
    for (const file of files) t.equal(balanced(await readFile(join(dir, file), 'utf8')), true, `Modelina ${lang} ${file}: brackets balance`)
  }
})

/** Brackets balance outside strings and comments: the most this machine can say of Swift, Dart and Kotlin. */
function balanced(code: string): boolean {
  const text = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '').replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, '""')
  const stack: string[] = []
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' }
  for (const c of text) {
    if ('([{'.includes(c)) stack.push(c)
    else if (c in pairs && stack.pop() !== pairs[c]) return false
  }
  return stack.length === 0
}

export type { GoldenFrame }
