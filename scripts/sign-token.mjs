#!/usr/bin/env node
/**
 * A Roomler2 access token for trying the service by hand (in production the
 * tokens come from Roomler2's API at login): HS256 over the claims Roomler2
 * puts in, signed with ROOMLER__JWT__SECRET, valid one hour. Plain Node, no
 * dependencies, so it runs from a fresh clone before `npm install`.
 *
 *   ROOMLER__JWT__SECRET=… node scripts/sign-token.mjs 64d0000000000000000000a1 [issuer]
 */
import { createHmac } from 'node:crypto'

const [userId, issuer = process.env.ROOMLER__JWT__ISSUER || 'roomler2'] = process.argv.slice(2)
const secret = process.env.ROOMLER__JWT__SECRET
if (!userId || !/^[0-9a-f]{24}$/i.test(userId) || !secret) {
  process.stderr.write('usage: ROOMLER__JWT__SECRET=<secret> node scripts/sign-token.mjs <user id: 24 hex digits> [issuer]\n')
  process.exit(2)
}
const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = Math.floor(Date.now() / 1000)
const claims = { sub: userId, email: `${userId}@example.test`, username: `user-${userId.slice(-4)}`, iat: now, exp: now + 3600, iss: issuer, token_type: 'access' }
const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`
process.stdout.write(`${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}\n`)
