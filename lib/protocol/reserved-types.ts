/**
 * The message types the protocol keeps for itself (contract section 8): an
 * application may push any other. `connected`, `pong` and `error` exactly;
 * every `typing:`, `presence:` and `auth:` type. Compared without
 * regard to case, so that `PONG` cannot pass for a protocol message either.
 */
export const RESERVED_TYPES: readonly string[] = ['connected', 'pong', 'error']
export const RESERVED_PREFIXES: readonly string[] = ['typing:', 'presence:', 'auth:']

/** Whether `type` belongs to the protocol, so the application may not push it. */
export function isReservedType(type: string): boolean {
  const lower = type.toLowerCase()
  return RESERVED_TYPES.includes(lower) || RESERVED_PREFIXES.some((prefix) => lower.startsWith(prefix))
}
