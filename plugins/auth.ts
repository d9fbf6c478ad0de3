import fp from 'fastify-plugin'
import { RegistrationError } from '../lib/support/config.js'
import fastifyJwt from '@fastify/jwt'
import type { FastifyPluginAsync } from 'fastify'
import { createTokenVerifier, type AccessClaims, type VerifyAccessToken } from '../lib/support/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Verifies a Roomler2 access token; throws TokenRejected with the HTTP status to answer. */
    verifyAccessToken: VerifyAccessToken
  }
  interface FastifyRequest {
    /** The verified claims of the request's access token, once a realtime route checked it. */
    realtimeClaims: AccessClaims | null
  }
}

/**
 * Token verification on `@fastify/jwt`: the host's, when it registered one
 * (its secret signs the tokens), or one registered here with ROOMLER__JWT__SECRET.
 * The HS256, issuer and token-type rules apply either way.
 */
const authPlugin: FastifyPluginAsync = async (fastify) => {
  const { jwt } = fastify.realtimeConfig
  if (!fastify.hasDecorator('jwt')) {
    await fastify.register(fastifyJwt, {
      secret: jwt.secret,
      verify: { algorithms: ['HS256'], allowedIss: jwt.issuer },
    })
  }
  const signer = fastify.jwt
  // A host's @fastify/jwt with a namespace (or none of the default signer) has no `verify` of its own:
  // every token would be refused with 401, and nothing would say why.
  if (typeof (signer as { verify?: unknown } | undefined)?.verify !== 'function') {
    throw new RegistrationError(
      'ROOMLER_HOST_JWT_UNUSABLE',
      'the host’s @fastify/jwt has no default verify (registered with a namespace?): register one without a namespace, with the secret that signs the access tokens, before roomler-realtime',
    )
  }
  fastify.decorateRequest('realtimeClaims', null)
  fastify.decorate('verifyAccessToken', createTokenVerifier((token) => signer.verify(token), jwt.issuer))
}

export default fp(authPlugin, { name: 'realtime-auth', fastify: '5.x', dependencies: ['realtime-config'] })
