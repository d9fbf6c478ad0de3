import type { FastifyPluginAsync } from 'fastify'
import { buildAsyncApi, toJsonText } from '../lib/docs/asyncapi.js'

/** `GET /asyncapi.json`: the AsyncAPI 3.0 document of the protocol, the same text as generated/asyncapi.json. */
const asyncApiRoute: FastifyPluginAsync = async (fastify) => {
  const document = toJsonText(buildAsyncApi())
  fastify.get('/asyncapi.json', { schema: { summary: 'The AsyncAPI 3.0 document of the WebSocket protocol', tags: ['documents'] } }, async (_request, reply) => reply.type('application/json; charset=utf-8').send(document))
}

export default asyncApiRoute
