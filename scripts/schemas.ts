/**
 * `npm run schemas`: writes the published schemas into `generated/` from the
 * TypeBox definitions in `schemas/` (see lib/docs/asyncapi.ts). The files are build
 * output: never edit them by hand; test/schemas.test.ts fails when they are stale.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generatedFiles } from '../lib/docs/asyncapi.js'
import { openApiFile } from './openapi.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'generated')

// Start clean, so that a message removed from schemas/ leaves no file behind.
await rm(out, { recursive: true, force: true })
for (const [file, text] of [...generatedFiles(), await openApiFile()]) {
  const path = join(out, file)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, text)
  process.stdout.write(`wrote ${relative(root, path)}\n`)
}
