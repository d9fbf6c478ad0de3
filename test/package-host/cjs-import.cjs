'use strict'
// A CommonJS host on any supported Node: the ESM package through import().
const { run } = require('./cjs-flow.cjs')

async function main() {
  const { default: realtime } = await import('roomler-realtime')
  await run(realtime, 'import()')
}
main().catch((error) => {
  console.error(error)
  process.exit(1)
})
