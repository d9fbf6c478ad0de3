/**
 * Headless Chromium for the browser tests: the build they load (dist/, as
 * `npm start` serves it) made when missing or stale, and one browser per
 * test file, closed when its tests end.
 */
import { execFile } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { chromium, type Browser } from 'playwright-core'
import { ROOT } from './standalone.js'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Newest modification time of the TypeScript the build compiles. */
async function newestSource(): Promise<number> {
  let newest = 0
  for (const dir of ['.', 'lib', 'plugins', 'routes', 'schemas', 'client']) {
    const entries = await readdir(join(ROOT, dir), { recursive: dir !== '.', withFileTypes: true })
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue
      newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs)
    }
  }
  return newest
}

/** `npm test` builds first; run alone, a browser test builds when dist/ is missing or older than the sources. */
export async function ensureBuilt(): Promise<void> {
  const built = await stat(join(ROOT, 'dist/server.js')).then((s) => s.mtimeMs, () => 0)
  if (built >= (await newestSource())) return
  await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT })
}

/** Headless Chromium, closed when the test ends. */
export async function launchChromium(t: { teardown(fn: () => unknown): void }): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
  t.teardown(() => browser.close())
  return browser
}
