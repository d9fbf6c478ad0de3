/**
 * `npm run env-example`: writes `.env.example` from the configuration schema
 * (lib/docs/env-example.ts). test/env-example.test.ts fails when it is stale.
 */
import { writeFile } from 'node:fs/promises'
import { renderEnvExample } from '../lib/docs/env-example.js'

const file = new URL('../.env.example', import.meta.url)
await writeFile(file, renderEnvExample())
process.stdout.write('wrote .env.example\n')
