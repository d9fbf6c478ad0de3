import { isObjectId, normalizeId } from '../../schemas/common.js'

/** The claims of a Roomler2 access token that this service relies on. */
export interface AccessClaims {
  sub: string
  exp: number
}

/** Why a token was refused, with the HTTP status the contract gives it. */
export class TokenRejected extends Error {
  constructor(
    readonly statusCode: 401 | 400,
    readonly code: 'unauthorized' | 'bad_request',
    message: string,
  ) {
    super(message)
    this.name = 'TokenRejected'
  }
}

const unauthorized = (message: string) => new TokenRejected(401, 'unauthorized', message)

/** Checks signature and expiry: `@fastify/jwt`'s verify, the host's or our own. */
export type SignatureCheck = (token: string) => unknown

/** The header nearly every HS256 token has (`{"alg":"HS256","typ":"JWT"}`): the same bytes always decode to the same header. */
const USUAL_HEADER = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')}.`

function algorithmOf(token: string): unknown {
  if (token.startsWith(USUAL_HEADER)) return 'HS256'
  const dot = token.indexOf('.')
  if (dot <= 0) return undefined
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'))
    return typeof header === 'object' && header !== null ? (header as { alg?: unknown }).alg : undefined
  } catch {
    return undefined
  }
}

/** How many `.` a token has (three segments: two), without splitting it. */
function dotsIn(token: string): number {
  let dots = 0
  for (let at = token.indexOf('.'); at !== -1; at = token.indexOf('.', at + 1)) dots++
  return dots
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: string }).code ?? ''
  if (code.includes('EXPIRED')) return 'token expired'
  if (code.includes('MISSING_SIGNATURE') || code.includes('INVALID_SIGNATURE')) return 'token signature is not valid'
  if (code.includes('MALFORMED') || code.includes('INVALID')) return 'token is malformed or not valid'
  return 'token is not valid'
}

/**
 * Verifies a Roomler2 access token: HS256 only (whatever the signature check
 * would allow), the issuer, a future `exp`, `token_type: access`, and a `sub`
 * that is an ObjectId. Error messages never include the token.
 */
export function createTokenVerifier(checkSignature: SignatureCheck, issuer: string) {
  return function verifyAccessToken(token: string | undefined): AccessClaims {
    if (!token) throw unauthorized('missing token')
    if (dotsIn(token) !== 2) throw unauthorized('token is malformed')
    const alg = algorithmOf(token)
    if (alg !== 'HS256') throw unauthorized(`token algorithm ${JSON.stringify(alg ?? null)} is not accepted; only HS256 is`)
    let claims: Record<string, unknown>
    try {
      claims = checkSignature(token) as Record<string, unknown>
    } catch (error) {
      throw unauthorized(reasonOf(error))
    }
    if (typeof claims !== 'object' || claims === null) throw unauthorized('token has no claims')
    if (claims.iss !== issuer) throw unauthorized('token issuer is not accepted')
    if (claims.token_type !== 'access') throw unauthorized('token is not an access token')
    const exp = claims.exp
    if (typeof exp !== 'number' || exp * 1000 <= Date.now()) throw unauthorized('token expired or has no expiry')
    const sub = claims.sub
    if (!isObjectId(sub)) {
      throw new TokenRejected(400, 'bad_request', 'token subject (sub) is not a 24-hex ObjectId')
    }
    return { sub: normalizeId(sub), exp }
  }
}

export type VerifyAccessToken = ReturnType<typeof createTokenVerifier>
