import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { HttpError } from '../../schemas/errors.js'

/** How long a client is told to wait after a 503 (a dependency is down) when nothing better is known. */
const RETRY_UNAVAILABLE_S = 5

/**
 * Every refusal over HTTP is `{ error, message }` with its 4xx or 5xx status,
 * and the headers HTTP asks for: `WWW-Authenticate: Bearer` on 401,
 * `Retry-After` on 429 and 503.
 */
export function sendError(reply: FastifyReply, statusCode: number, error: string, message: string, retryAfterS?: number): FastifyReply {
  const body: HttpError = { error, message }
  if (statusCode === 401 && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer')
  if ((statusCode === 429 || statusCode === 503) && !reply.hasHeader('retry-after')) {
    reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterS ?? RETRY_UNAVAILABLE_S))))
  }
  return reply.code(statusCode).type('application/json; charset=utf-8').send(body)
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  503: 'unavailable',
}

/** Messages of Fastify's own errors that would repeat what the client sent (a URL, a token) are replaced. */
const OWN_MESSAGES: Record<number, string> = {
  404: 'no such route',
  415: 'this Content-Type is not read here: send application/json',
}

/** The status and code of an error a route or a plugin threw. */
function statusOf(error: FastifyError): number {
  const status = error.statusCode
  return status && status >= 400 && status < 600 ? status : 500
}

/** The plugin's one error handler: validation, parsing, rate limits and failures answer in the same JSON shape. */
export function useJsonErrors(fastify: FastifyInstance): void {
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const status = statusOf(error)
    if (status >= 500 && status !== 503) {
      request.log.error({ err: error }, 'request failed')
      return sendError(reply, status, 'internal', 'the request could not be completed')
    }
    const message = OWN_MESSAGES[status] ?? error.message
    return sendError(reply, status, CODE_BY_STATUS[status] ?? 'bad_request', message)
  })
}

/** The plugin's 404: the JSON shape, and never the URL (it may hold a token). */
export function notFound(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, 404, 'not_found', OWN_MESSAGES[404]!)
}
