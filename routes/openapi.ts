import type { FastifyPluginAsync } from 'fastify'

/** `GET /openapi.json`: the OpenAPI 3.1 document of the plugin's HTTP routes, from their own schemas (@fastify/swagger). */
const openApiRoute: FastifyPluginAsync = async (fastify) => {
  const document = () => (fastify as unknown as { realtimeOpenApi(): unknown }).realtimeOpenApi()
  fastify.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => reply.type('application/json; charset=utf-8').send(document()))
}

export default openApiRoute
