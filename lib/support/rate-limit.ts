/** One minute: the window of ROOMLER__REALTIME__HTTP_RATE_LIMIT_PER_MIN. */
const WINDOW_MS = 60_000

/**
 * The route `config` that asks @fastify/rate-limit (the host's, or the
 * plugin's own) to limit a route to `perMinute` requests per client address;
 * none at 0.
 */
export function rateLimitConfig(perMinute: number): { rateLimit?: { max: number; timeWindow: number } } {
  return perMinute > 0 ? { rateLimit: { max: perMinute, timeWindow: WINDOW_MS } } : {}
}
