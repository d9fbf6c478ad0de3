import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import type { HttpError } from '../../schemas/errors.js'

/** Every refusal over HTTP is `{ error, message }` with its 4xx or 5xx status. */
export function sendError(reply: FastifyReply, statusCode: number, error: string, message: string): FastifyReply {
  const body: HttpError = { error, message }
  return reply.code(statusCode).type('application/json').send(body)
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
}

/** Makes validation and parsing failures of a route scope answer in the same JSON shape. */
export function useJsonErrors(fastify: FastifyInstance): void {
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
      return sendError(reply, status, 'internal', 'the request could not be completed')
    }
    return sendError(reply, status, CODE_BY_STATUS[status] ?? 'bad_request', error.message)
  })
}
