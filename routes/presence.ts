import type { FastifyPluginAsync } from 'fastify'
import { bearerCredential } from '../lib/support/bearer.js'
import { sendError, useJsonErrors } from '../lib/support/http-errors.js'
import { rateLimitConfig } from '../lib/support/rate-limit.js'
import { TokenRejected } from '../lib/support/tokens.js'
import { HttpError } from '../schemas/errors.js'
import { MAX_PRESENCE_IDS, PresenceAnswer, PresenceQuery } from '../schemas/http.js'
import { isObjectId, normalizeId } from '../schemas/common.js'
import { internal } from '../plugins/internals.js'

/** `GET /presence?user_ids=…`: the presence a client draws its member list with. */
const presenceRoute: FastifyPluginAsync = async (instance) => {
  const fastify = internal(instance)
  useJsonErrors(fastify)
  const presence = fastify.realtimePresence

  fastify.get<{ Querystring: PresenceQuery }>(
    '/presence',
    {
      schema: {
        summary: 'The visible presence of up to 200 users',
        tags: ['presence'],
        querystring: PresenceQuery,
        response: { 200: PresenceAnswer, 400: HttpError, 401: HttpError, 429: HttpError },
      },
      config: { ...rateLimitConfig(fastify.realtimeConfig.realtime.httpRateLimitPerMin), openApiSecurity: [{ accessToken: [] }] },
      // Before the query is validated (after the rate limit): without a valid token, the answer is 401 whatever was asked.
      preValidation: async (request, reply) => {
        try {
          request.realtimeClaims = fastify.verifyAccessToken(bearerCredential(request.headers.authorization))
        } catch (error) {
          if (error instanceof TokenRejected) return sendError(reply, error.statusCode, error.code, error.message)
          throw error
        }
      },
    },
    async (request, reply) => {
      const asker = request.realtimeClaims!.sub
      const ids = request.query.user_ids.split(',').map((id) => id.trim())
      if (ids.length > MAX_PRESENCE_IDS) {
        return sendError(reply, 400, 'bad_request', `at most ${MAX_PRESENCE_IDS} user ids per request`)
      }
      const bad = ids.find((id) => !isObjectId(id))
      if (bad !== undefined) return sendError(reply, 400, 'bad_request', `${JSON.stringify(bad)} is not an ObjectId`)
      const states = await presence.presencesFor(asker, ids.map(normalizeId))
      const presences: PresenceAnswer['presences'] = {}
      ids.forEach((id, i) => (presences[id] = states[i]!))
      return { presences }
    },
  )
}

export default presenceRoute
