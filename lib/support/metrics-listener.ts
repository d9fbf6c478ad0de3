import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import type { HttpError } from '../../schemas/errors.js'

/**
 * `GET /metrics` on a listener of its own (ROOMLER__REALTIME__METRICS_PORT),
 * so an operator can keep it off the public port. `authorize` says whether
 * a request's Authorization header may read it.
 */
export class MetricsListener {
  readonly #server: Server

  constructor(registry: Registry, authorize: (authorization: string | undefined) => boolean) {
    this.#server = createServer((request, response) => {
      const answer = (status: number, body: HttpError, headers: Record<string, string> = {}) => {
        response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body))
      }
      const path = (request.url ?? '/').split('?')[0]
      if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
        return answer(404, { error: 'not_found', message: 'only GET /metrics is served here' })
      }
      if (!authorize(request.headers.authorization)) {
        return answer(401, { error: 'unauthorized', message: 'send the metrics key as Authorization: Bearer <METRICS_KEY>' }, { 'www-authenticate': 'Bearer' })
      }
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => answer(500, { error: 'internal', message: 'the metrics could not be collected' }),
      )
    })
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(port, host, () => resolve((this.#server.address() as AddressInfo).port))
    })
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections()
      this.#server.close(() => resolve())
    })
  }
}
