/**
 * Generates types from the published documents as a team would, with the
 * tools of .cache/polyglot: Modelina from generated/asyncapi.json (Go,
 * Python, Java, Kotlin, Dart), quicktype from the per-message JSON
 * Schemas (TypeScript, Go, Python, Swift, Dart), json-schema-to-typescript
 * from the same. Each writes a project under `work`, beside the harness that
 * decodes the golden frames with it.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { frameTitles, publishedMessages, type Direction } from '../../lib/docs/json-schema.js'
import { HARNESS, ROOT } from './tools.js'

const asyncapi = () => JSON.parse(readFileSync(join(ROOT, 'generated/asyncapi.json'), 'utf8'))
const SCHEMAS = join(ROOT, 'generated/json-schema')

/** Which generated type decodes which `type`, per direction; `open` takes every other type. */
export function dispatchTable(): Record<Direction, { union: string; types: Record<string, string>; open?: string }> {
  const table: Record<Direction, { union: string; types: Record<string, string>; open?: string }> = {
    client: { union: frameTitles.client, types: {} },
    server: { union: frameTitles.server, types: {} },
  }
  for (const m of publishedMessages()) {
    if (m.type === 'application-event') table[m.direction].open = m.name
    else table[m.direction].types[m.type] = m.name
  }
  return table
}

async function load(nodeModules: string, name: string): Promise<any> {
  const require = createRequire(join(nodeModules, 'noop.js'))
  return import(pathToFileURL(require.resolve(name)).href)
}

/** Modelina's models for one language into `dir`, as files; returns the model names. */
async function modelina(nodeModules: string, generator: string, presets: (m: any) => unknown[], dir: string, options: object): Promise<string[]> {
  const m = await load(nodeModules, '@asyncapi/modelina')
  const models = await new m[generator]({ presets: presets(m) }).generateToFiles(asyncapi(), dir, options)
  return models.map((model: { modelName: string }) => model.modelName).filter(Boolean)
}

export async function modelinaGo(nodeModules: string, work: string): Promise<string> {
  const dir = join(work, 'modelina-go')
  await modelina(nodeModules, 'GoFileGenerator', (m) => [{ preset: m.GO_COMMON_PRESET, options: { addJsonTag: true } }], join(dir, 'realtime'), { packageName: 'realtime' })
  writeGoHarness(dir, (name) => `&realtime.${name}{}`, 'polyglot/realtime')
  return dir
}

export async function quicktypeGo(nodeModules: string, work: string): Promise<string> {
  const dir = join(work, 'quicktype-go')
  mkdirSync(join(dir, 'realtime'), { recursive: true })
  writeFileSync(join(dir, 'realtime/types.go'), await quicktype(nodeModules, 'go', { package: 'realtime' }))
  writeGoHarness(dir, (name) => `&realtime.${name}{}`, 'polyglot/realtime')
  return dir
}

/** main.go, and dispatch.go: the table of dispatchTable() as Go. */
function writeGoHarness(dir: string, construct: (name: string) => string, importPath: string): void {
  copyFileSync(join(HARNESS, 'main.go'), join(dir, 'main.go'))
  writeFileSync(join(dir, 'go.mod'), 'module polyglot\n\ngo 1.21\n')
  const table = dispatchTable()
  const cases = (Object.keys(table) as Direction[]).map((direction) => {
    const lines = Object.entries(table[direction].types).map(([type, name]) => `\t\tcase ${JSON.stringify(type)}:\n\t\t\treturn ${JSON.stringify(name)}, ${construct(name)}`)
    const open = table[direction].open
    lines.push(`\t\tdefault:\n\t\t\treturn ${open ? `${JSON.stringify(open)}, ${construct(open)}` : '"", nil'}`)
    return `\tcase ${JSON.stringify(direction)}:\n\t\tswitch messageType {\n${lines.join('\n')}\n\t\t}`
  })
  writeFileSync(
    join(dir, 'dispatch.go'),
    `// Written by test/polyglot/generate.ts from the published messages.\npackage main\n\nimport "${importPath}"\n\nfunc newValue(direction, messageType string) (string, any) {\n\tswitch direction {\n${cases.join('\n')}\n\t}\n\treturn "", nil\n}\n`,
  )
}

export async function modelinaPython(nodeModules: string, work: string): Promise<string> {
  const dir = join(work, 'modelina-python')
  const names = await modelina(nodeModules, 'PythonFileGenerator', () => [], join(dir, 'asyncapimodels'), {})
  const files = readdirSync(join(dir, 'asyncapimodels')).map((file) => file.replace(/\.py$/, ''))
  // The package imports itself as `asyncapimodels.<file>`; its __init__ names every model.
  const byName = new Map(files.map((file) => [file.replace(/_/g, ''), file]))
  const init = names.map((name) => `from asyncapimodels.${byName.get(name.toLowerCase())} import ${name}`).join('\n')
  writeFileSync(join(dir, 'asyncapimodels/__init__.py'), init + '\n')
  writePythonHarness(dir)
  return dir
}

export async function quicktypePython(nodeModules: string, work: string): Promise<string> {
  const dir = join(work, 'quicktype-python')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'realtime.py'), await quicktype(nodeModules, 'python', { 'python-version': '3.7' }))
  writePythonHarness(dir)
  return dir
}

function writePythonHarness(dir: string): void {
  copyFileSync(join(HARNESS, 'decode.py'), join(dir, 'decode.py'))
  writeFileSync(join(dir, 'dispatch.json'), JSON.stringify(dispatchTable()))
}

export async function modelinaJava(nodeModules: string, work: string): Promise<string> {
  const dir = join(work, 'modelina-java')
  await modelina(nodeModules, 'JavaFileGenerator', (m) => [m.JAVA_JACKSON_PRESET], join(dir, 'src/realtime'), { packageName: 'realtime' })
  copyFileSync(join(HARNESS, 'java/Decode.java'), join(dir, 'src/Decode.java'))
  writeFileSync(join(dir, 'dispatch.json'), JSON.stringify(dispatchTable()))
  return dir
}

/** Kotlin and Dart from Modelina: written, not compiled (no compiler here). */
export async function modelinaOther(nodeModules: string, work: string, language: 'Kotlin' | 'Dart'): Promise<string> {
  const dir = join(work, `modelina-${language.toLowerCase()}`)
  await modelina(nodeModules, `${language}FileGenerator`, () => [], dir, { packageName: 'realtime' })
  return dir
}

/** quicktype from every per-message schema both ways: one top-level type per message, named by its title. */
export async function quicktype(nodeModules: string, lang: string, rendererOptions: Record<string, string> = {}): Promise<string> {
  const q = await load(nodeModules, 'quicktype-core')
  const input = new q.JSONSchemaInput(new q.FetchingJSONSchemaStore())
  for (const m of publishedMessages()) {
    const text = readFileSync(join(SCHEMAS, m.file), 'utf8')
    await input.addSource({ name: JSON.parse(text).title, schema: text })
  }
  const inputData = new q.InputData()
  inputData.addInput(input)
  const result = await q.quicktype({ inputData, lang, rendererOptions })
  return result.lines.join('\n') + '\n'
}

/** json-schema-to-typescript, the devDependency, on every published file of both directions. */
export function json2ts(work: string): string {
  const dir = join(work, 'json2ts')
  const cli = join(ROOT, 'node_modules/json-schema-to-typescript/dist/src/cli.js')
  for (const direction of ['client', 'server']) {
    execFileSync(process.execPath, [cli, '-i', `generated/json-schema/${direction}/*.json`, '-o', join(dir, direction) + '/'], { cwd: ROOT, stdio: 'pipe' })
  }
  return dir
}
