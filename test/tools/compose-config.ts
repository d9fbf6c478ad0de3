/**
 * `docker compose config` without Docker: test/tools/compose-config (Go) loads
 * a Compose file with compose-go, the loader Docker Compose itself is built on
 * (the Compose specification's schema, interpolation, merge keys), and prints
 * the resolved project as JSON. Built once into .cache/, as FerretDB is.
 */
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const source = join(root, 'test/tools/compose-config')
export const composeConfigBinary = join(root, '.cache/compose-config/compose-config')

/** Builds the binary unless an up-to-date one is cached. */
export function buildComposeConfig(): string {
  const newest = Math.max(...readdirSync(source).map((name) => statSync(join(source, name)).mtimeMs))
  if (existsSync(composeConfigBinary) && statSync(composeConfigBinary).mtimeMs >= newest) return composeConfigBinary
  process.stderr.write('building compose-config (once; cached in .cache/compose-config)…\n')
  const result = spawnSync('go', ['build', '-o', composeConfigBinary, '.'], { cwd: source, stdio: 'inherit', timeout: 300_000 })
  if (result.error) throw new Error(`could not run go build for compose-config: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`go build of compose-config failed with exit code ${result.status}`)
  return composeConfigBinary
}

export type ComposeResult = { ok: true; project: any } | { ok: false; error: string }

/** Loads `file` as `docker compose config` would, with exactly `env` as the environment. */
export function composeConfig(file: string, env: Record<string, string>): Promise<ComposeResult> {
  const binary = buildComposeConfig()
  return new Promise((done) => {
    execFile(binary, [file], { cwd: dirname(file), env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      done(error ? { ok: false, error: stderr || String(error) } : { ok: true, project: JSON.parse(stdout) })
    })
  })
}
