/** The service's HTTP endpoints beside `/ws` (contract sections 2 and 5). */
import type { Presence, PresenceAnswer } from './protocol.js'
import { RealtimeError, type FetchLike } from './options.js'

/** The HTTP URL of one of the service's endpoints, beside its `/ws`. */
export function httpUrl(wsUrl: string, path: string): URL {
  const url = new URL(wsUrl)
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:'
  url.pathname = url.pathname.replace(/\/ws\/?$/, '') + path
  url.search = ''
  return url
}

/** `GET /presence` for these users as the token's user: the visible presence of each (one's own is real). */
export async function fetchPresence(fetch: FetchLike, wsUrl: string, token: string, userIds: readonly string[]): Promise<Record<string, Presence>> {
  const url = httpUrl(wsUrl, '/presence')
  url.searchParams.set('user_ids', userIds.join(','))
  const response = await fetch(url.toString(), { headers: { authorization: `Bearer ${token}` } })
  const body = (await response.json()) as PresenceAnswer | { error?: string; message?: string }
  if (response.status !== 200 || !('presences' in body)) {
    const refusal = body as { error?: string; message?: string }
    throw new RealtimeError(refusal.message ?? `GET /presence answered ${response.status}`, refusal.error, response.status)
  }
  return body.presences
}

/**
 * A browser hides why an upgrade failed. The same request without the
 * upgrade gets the same refusal (401, 403, …) from the service; a network
 * failure or a cross-origin answer leaves it unknown.
 */
export async function probeStatus(fetch: FetchLike | undefined, upgradeUrl: string): Promise<number | undefined> {
  if (!fetch) return undefined
  const url = new URL(upgradeUrl)
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:'
  try {
    const response = await fetch(url.toString())
    return response.status >= 400 ? response.status : undefined
  } catch {
    return undefined
  }
}
