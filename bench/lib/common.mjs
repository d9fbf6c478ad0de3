// Shared by the bench servers, the load generator and the runner: tokens,
// ids, a CPU reader for /proc/<pid>/stat, percentiles. Plain ESM, no build.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'

export const SECRET = 'bench-secret-that-is-long-enough-0123456789'
export const ISSUER = 'roomler2'

/** The i-th user id / channel id: 24 hex digits, deterministic. */
export const userId = (i) => 'a0' + i.toString(16).padStart(22, '0')
export const channelId = (i) => 'c0' + i.toString(16).padStart(22, '0')

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
const HEADER = b64({ alg: 'HS256', typ: 'JWT' })

/** A Roomler2 access token, as test/helper.ts signs them. */
export function signToken(sub, secret = SECRET) {
  const now = Math.floor(Date.now() / 1000)
  const payload = b64({ sub, email: 'bench@example.test', username: 'bench', iat: now, exp: now + 3600, iss: ISSUER, token_type: 'access' })
  const input = `${HEADER}.${payload}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

const HEX24 = /^[0-9a-fA-F]{24}$/

/**
 * The baselines' verification, the contract's rules without a framework:
 * HS256 only, signature, iss, exp in the future, token_type access, sub an ObjectId.
 * Returns { status, sub, exp }; status 200 when accepted.
 */
export function verifyToken(token, secret = SECRET) {
  if (typeof token !== 'string') return { status: 401 }
  const parts = token.split('.')
  if (parts.length !== 3) return { status: 401 }
  let header, claims
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'))
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
  } catch {
    return { status: 401 }
  }
  if (!header || header.alg !== 'HS256') return { status: 401 }
  const expected = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest()
  const given = Buffer.from(parts[2], 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { status: 401 }
  if (!claims || claims.iss !== ISSUER || claims.token_type !== 'access') return { status: 401 }
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return { status: 401 }
  if (typeof claims.sub !== 'string' || !HEX24.test(claims.sub)) return { status: 400 }
  return { status: 200, sub: claims.sub.toLowerCase(), exp: claims.exp }
}

/** utime + stime of a process, in microseconds (from clock ticks, 100 per second). */
export function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /VmRSS:\s+(\d+) kB/.exec(status)
  return match ? Number(match[1]) * 1024 : NaN
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

/** Server side of the runner's IPC: seed, gc, and a ready message with the port. */
export function serveIpc(handlers) {
  process.on('message', async (msg) => {
    try {
      let result
      if (msg.cmd === 'gc') {
        globalThis.gc?.()
        globalThis.gc?.()
      } else if (msg.cmd === 'heapSnapshot') {
        // bench/idle-heap.mjs: what the heap holds, written where the runner asked.
        globalThis.gc?.()
        globalThis.gc?.()
        const { writeHeapSnapshot } = await import('node:v8')
        result = writeHeapSnapshot(msg.path)
      } else if (handlers[msg.cmd]) {
        result = await handlers[msg.cmd](msg)
      }
      process.send({ id: msg.id, ok: true, result })
    } catch (error) {
      process.send({ id: msg.id, ok: false, error: String(error?.stack ?? error) })
    }
  })
  process.on('disconnect', () => process.exit(0))
  // A clean exit on the runner's SIGTERM, so that --cpu-prof writes its profile.
  process.on('SIGTERM', () => process.exit(0))
}
