import { ConfigError, closest } from './config.js'

/** The plugin's HTTP routes in groups a host may switch off (`/ws` is the plugin itself and always on). */
export const ROUTE_GROUPS = {
  health: 'GET /health and GET /ready',
  metrics: 'GET /metrics',
  asyncapi: 'GET /asyncapi.json',
  openapi: 'GET /openapi.json',
  publish: 'POST /publish',
  presence: 'GET /presence',
} as const

export type RouteGroup = keyof typeof ROUTE_GROUPS
export type RouteSwitches = Partial<Record<RouteGroup, boolean>>

/** Every group on unless switched off; an unknown group or a value that is not a boolean stops the registration. */
export function resolveRouteGroups(switches: unknown): Record<RouteGroup, boolean> {
  const groups = Object.keys(ROUTE_GROUPS) as RouteGroup[]
  const resolved = Object.fromEntries(groups.map((group) => [group, true])) as Record<RouteGroup, boolean>
  if (switches === undefined) return resolved
  if (switches === null || typeof switches !== 'object' || Array.isArray(switches)) {
    throw new ConfigError('option routes', `must be an object of booleans, one per route group (${groups.join(', ')})`)
  }
  for (const [name, on] of Object.entries(switches)) {
    if (!(name in ROUTE_GROUPS)) {
      const guess = closest(name, groups)
      throw new ConfigError(
        `option routes.${name}`,
        `is not a route group of roomler-realtime${guess ? ` (did you mean routes.${guess}?)` : ''}; the groups are ${groups.join(', ')}`,
      )
    }
    if (typeof on !== 'boolean') throw new ConfigError(`option routes.${name}`, `must be true or false (got ${JSON.stringify(on)})`)
    resolved[name as RouteGroup] = on
  }
  return resolved
}
