'use strict'
// A CommonJS host on Node 20.19+ or 22.12+, whose require() loads ES modules.
const { run } = require('./cjs-flow.cjs')
const realtime = require('roomler-realtime').default

run(realtime, 'require()').catch((error) => {
  console.error(error)
  process.exit(1)
})
