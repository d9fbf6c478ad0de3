import { RegistrationError } from './config.js'

type HookTable = { preClose?: Array<() => Promise<void>> }
type Instance = object

const HOOKS = 'fastify.hooks'

function hooksOf(instance: Instance): HookTable | undefined {
  const symbol = Object.getOwnPropertySymbols(instance).find((s) => s.description === HOOKS)
  return symbol === undefined ? undefined : ((instance as Record<symbol, HookTable>)[symbol] ?? undefined)
}

/**
 * Runs `hook` before every other `preClose` hook of the application. A host
 * that registered @fastify/websocket first has its `preClose` close every
 * socket bare (1005) before ours could close them going away (1001): ours
 * goes first. Fastify keeps the hooks of the root instance in a table behind
 * a symbol; when it cannot be found, the registration fails rather than
 * promise a 1001 it cannot keep.
 */
export function runBeforeOtherPreClose(instance: Instance, hook: () => Promise<void>): void {
  let root: Instance = instance
  for (let parent = Object.getPrototypeOf(root); parent && hooksOf(parent); parent = Object.getPrototypeOf(parent)) root = parent
  const table = hooksOf(root)?.preClose
  if (!Array.isArray(table)) {
    throw new RegistrationError(
      'ROOMLER_SHUTDOWN_ORDER',
      'roomler-realtime cannot close its connections with 1001 before the host’s @fastify/websocket closes them: this Fastify keeps its hooks where the plugin cannot find them',
    )
  }
  table.unshift(async function realtimeGoingAway() {
    await hook()
  })
}
