/**
 * The code generators and libraries the polyglot test uses, pinned and
 * installed once into .cache/polyglot/ (as test/servers/ferretdb.ts caches
 * FerretDB): Modelina and quicktype from npm, Jackson from Maven Central.
 * json-schema-to-typescript is a devDependency already. Go, Python, javac
 * and Maven are the machine's.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const CACHE = join(ROOT, '.cache/polyglot')
export const HARNESS = join(ROOT, 'test/polyglot/harness')

/** The npm tools, exactly these versions (each runs on Node 20). */
export const NPM_TOOLS = { '@asyncapi/modelina': '5.10.1', 'quicktype-core': '26.0.0' } as const
/** Jackson's version is in harness/java/pom.xml. */
export const JAVA_LIB = join(CACHE, 'java-lib')

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] })
  if (result.error) throw new Error(`could not run ${command}: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed with exit code ${result.status}`)
}

/** Installs the npm tools unless the cached ones are these versions; returns their node_modules. */
export function installNpmTools(): string {
  const dir = join(CACHE, 'node')
  const manifest = JSON.stringify({ private: true, dependencies: NPM_TOOLS }, null, 2) + '\n'
  const manifestPath = join(dir, 'package.json')
  const installed = existsSync(join(dir, 'node_modules/.package-lock.json')) && existsSync(manifestPath) && readFileSync(manifestPath, 'utf8') === manifest
  if (!installed) {
    process.stderr.write(`installing ${Object.entries(NPM_TOOLS).map(([n, v]) => `${n}@${v}`).join(', ')} (once; cached in .cache/polyglot)…\n`)
    mkdirSync(dir, { recursive: true })
    writeFileSync(manifestPath, manifest)
    run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], dir)
  }
  return join(dir, 'node_modules')
}

/** Fetches Jackson with Maven into .cache/polyglot (its own local repository); returns the classpath. */
export function installJavaLibs(): string {
  const pom = readFileSync(join(HARNESS, 'java/pom.xml'), 'utf8')
  const stamp = join(JAVA_LIB, 'pom.xml')
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== pom) {
    process.stderr.write('fetching Jackson with Maven (once; cached in .cache/polyglot)…\n')
    const work = join(CACHE, 'maven-work')
    mkdirSync(work, { recursive: true })
    writeFileSync(join(work, 'pom.xml'), pom)
    run('mvn', ['-q', '-B', `-Dmaven.repo.local=${join(CACHE, 'm2')}`, 'dependency:copy-dependencies', `-DoutputDirectory=${JAVA_LIB}`], work)
    writeFileSync(stamp, pom)
  }
  return readdirSync(JAVA_LIB)
    .filter((name) => name.endsWith('.jar'))
    .map((name) => join(JAVA_LIB, name))
    .join(':')
}
