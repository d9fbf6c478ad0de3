/**
 * The figures a reliability test measured, kept for docs/RELIABILITY.md:
 * each test writes test-output/reliability/<name>.json, and
 * `npm run reliability:report` renders the document from those files.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const figuresDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../test-output/reliability')

export interface Figures {
  /** What the test tried, in a sentence. */
  tried: string
  /** What held, in a sentence. */
  held: string
  /** The numbers: name → value (counts, milliseconds, bytes). */
  figures: Record<string, number | string>
}

export function recordFigures(name: string, figures: Figures): void {
  mkdirSync(figuresDir, { recursive: true })
  writeFileSync(join(figuresDir, `${name}.json`), JSON.stringify({ ...figures, at: new Date().toISOString() }, null, 2) + '\n')
}
