import type { Audience } from '../delivery/broker.js'
import { offsetOf, withOffset } from '../history/offsets.js'

/** An entry of the history stream as Redis answers it. */
export type RawEntry = [id: string, fields: string[]]

export interface Entry {
  readonly id: string
  /** Who appended it: `<instance's tag>.<sequence>`. */
  readonly publishId: string
  readonly epoch: string
  readonly type: string
  readonly audience: Audience
  readonly frame: string
}

export function encodeAudience(audience: Audience): string {
  const exclude = audience.exclude && audience.exclude.size > 0 ? [...audience.exclude] : undefined
  if ('everyone' in audience) return JSON.stringify({ e: 1, x: exclude })
  return JSON.stringify({ u: audience.users, x: exclude, c: audience.channel })
}

function decodeAudience(text: string): Audience {
  const a = JSON.parse(text) as { e?: 1; u?: string[]; x?: string[]; c?: string }
  const exclude = a.x ? new Set(a.x) : undefined
  return a.e ? { everyone: true, exclude } : { users: a.u ?? [], exclude, channel: a.c }
}

export function decode([id, fields]: RawEntry): Entry {
  const f: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!
  const epoch = f.e ?? ''
  return { id, publishId: f.i ?? '', epoch, type: f.t ?? '', audience: decodeAudience(f.a ?? '{}'), frame: withOffset(f.p ?? '{}', offsetOf(epoch, id)) }
}

/** About how many bytes an entry takes in Redis: its id and fields (what a read of it transfers). */
export function rawSize([id, fields]: RawEntry): number {
  let size = id.length
  for (const field of fields) size += field.length
  return size
}

/** Compares two stream ids (`<ms>-<seq>`). */
export function compareIds(a: string, b: string): number {
  const [am, as] = parts(a)
  const [bm, bs] = parts(b)
  return am !== bm ? am - bm : as - bs
}

function parts(id: string): [number, number] {
  const dash = id.indexOf('-')
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))]
}
