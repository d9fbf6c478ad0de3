/**
 * Running npm, tsc and node in a project outside the repository, as a user
 * would (test/package.test.ts and test/client/package.test.ts): commands run
 * to their end or a timeout without throwing, in an environment without
 * npm's own variables (these tests run under npx).
 */
import { execFile } from 'node:child_process'

/** The environment without npm's own variables, so each npm behaves as a user's would. */
export const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
delete env.NODE_OPTIONS

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to its end (or `timeoutMs`); never throws on a non-zero exit. */
export function run(command: string, args: string[], cwd: string, timeoutMs: number, extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...env, ...extraEnv }, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, stdout, stderr: error && code === 1 && !stderr ? String(error) : stderr })
    })
  })
}

/** What a run printed, for the failure message. */
export const output = (r: Run) => (r.code === 0 ? '' : full(r))
export const full = (r: Run) => `exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`

/** The JSON of the RESULT line a script prints. */
export function result(r: Run): any {
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  return line ? JSON.parse(line.slice('RESULT '.length)) : undefined
}
