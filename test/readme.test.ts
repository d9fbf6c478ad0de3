import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { configLeaves } from '../lib/support/config.js'
import { errorCodes } from '../schemas/errors.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
// The contract lives beside the repository (../shared), as on every developer machine and in CI.
const contractFile = new URL('../../shared/PROTOCOL.md', import.meta.url)
const contract = existsSync(contractFile) ? readFileSync(contractFile, 'utf8') : undefined

t.test('the README configuration table lists every setting with its default', async (t) => {
  for (const leaf of configLeaves) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${leaf.env}\` |`))
    t.ok(row, `${leaf.env} has a row`)
    const dflt = (leaf.schema as { default?: unknown }).default
    const shown = row?.split('|')[2]?.trim()
    const expected = dflt === undefined ? 'unset' : Array.isArray(dflt) ? 'empty' : `\`${String(dflt)}\``
    t.equal(shown, expected, `${leaf.env} default`)
  }
})

/**
 * Settings of the amended contract whose features are open issues: each is
 * named with its issue, and the README lists them as not built. No setting
 * is added without the behaviour behind it.
 */
const NOT_BUILT_YET: Record<string, string> = {
}

t.test('every variable and limit the contract names is a setting', { skip: contract ? false : 'no ../shared/PROTOCOL.md beside the repository' }, async (t) => {
  if (!contract) return
  const named = new Set([...contract.matchAll(/`(ROOMLER__[A-Z_]+?)`/g)].map((m) => m[1]!))
  const limits = [...contract.matchAll(/^\| `([A-Z_]+)`(?: \/ `([A-Z_]+)`)? \| (?:\d+|unset)/gm)].flatMap((m) =>
    [m[1], m[2]].filter((x): x is string => !!x),
  )
  for (const name of limits) if (!name.startsWith('ROOMLER__')) named.add(`ROOMLER__REALTIME__${name}`)
  const known = new Set(configLeaves.map((leaf) => leaf.env))
  t.ok(limits.length >= 10, 'the contract limits table was read')
  for (const name of named) {
    const pending = NOT_BUILT_YET[name]
    if (pending && !known.has(name)) t.comment(`${name}: not built yet (${pending}); the README's "Not built yet" says so`)
    else t.ok(known.has(name), `${name} is a setting`)
  }
  // A pending entry must go once its setting exists, so the list cannot hide a built one.
  for (const name of Object.keys(NOT_BUILT_YET)) t.notOk(known.has(name), `${name} is built: take it off NOT_BUILT_YET`)
})

t.test('every error code is documented in the README and the contract', async (t) => {
  for (const code of Object.keys(errorCodes)) {
    t.ok(readme.includes(`\`${code}\``), `${code} in README`)
    if (contract) t.ok(contract.includes(`\`${code}\``), `${code} in the contract`)
  }
})
