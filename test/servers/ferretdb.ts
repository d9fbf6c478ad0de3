/**
 * FerretDB for the tests: built once from test/servers/ferretdb (Go, the
 * embeddable package with the SQLite handler) into .cache/, started on a free
 * loopback port with its data in a temporary directory, stopped afterwards.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const source = join(root, 'test/servers/ferretdb')
export const ferretdbBinary = join(root, '.cache/ferretdb/ferretdb')

/** How long a first start may take (a cold Go build takes a minute or two). */
const START_TIMEOUT_MS = 30_000

function newestSource(): number {
  return Math.max(...readdirSync(source).map((name) => statSync(join(source, name)).mtimeMs))
}

/** Builds the binary unless an up-to-date one is cached. */
export function buildFerretDB(): string {
  if (existsSync(ferretdbBinary) && statSync(ferretdbBinary).mtimeMs >= newestSource()) return ferretdbBinary
  process.stderr.write('building FerretDB (once; cached in .cache/ferretdb)…\n')
  const result = spawnSync('go', ['build', '-o', ferretdbBinary, '.'], { cwd: source, stdio: 'inherit' })
  if (result.error) throw new Error(`could not run go build for FerretDB: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`go build of FerretDB failed with exit code ${result.status}`)
  return ferretdbBinary
}

export interface RunningFerretDB {
  url: string
  process: ChildProcess
  dataDir: string
  stop(): Promise<void>
}

/** Starts FerretDB; `port` 0 picks a free one. Data lives in a fresh temporary directory. */
export async function startFerretDB(options: { port?: number; dataDir?: string } = {}): Promise<RunningFerretDB> {
  const binary = buildFerretDB()
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'roomler-ferretdb-'))
  const child = spawn(binary, ['-listen', `127.0.0.1:${options.port ?? 0}`, '-data', dataDir], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`FerretDB did not start in ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS)
    const lines = createInterface({ input: child.stdout! })
    lines.once('line', (line) => {
      clearTimeout(timer)
      resolveUrl(line.trim())
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`FerretDB exited with ${code} before it listened: ${stderr}`))
    })
  })
  const ownDir = options.dataDir === undefined
  return {
    url,
    process: child,
    dataDir,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
      if (ownDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
