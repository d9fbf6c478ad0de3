import type { FastifyInstance } from 'fastify'

/**
 * The plugin's own encapsulated context, by the host instance it was
 * registered on. Only the documented decorators reach the host; the tests
 * (and nothing else) reach the internals (stores, metrics, presence, …)
 * through `internalsOf(app)`, not through a decorator of the host's.
 */
const contexts = new WeakMap<object, FastifyInstance>()

export function rememberInternals(host: FastifyInstance, context: FastifyInstance): void {
  contexts.set(host, context)
}

export function internalsOf(host: FastifyInstance): FastifyInstance {
  const context = contexts.get(host)
  if (!context) throw new Error('roomler-realtime is not registered on this instance')
  return context
}
