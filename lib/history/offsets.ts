/**
 * Offsets (contract section 8): `<epoch>-<ms>-<seq>`. The epoch names one
 * history (a process start on one instance, a Redis stream's life on many);
 * `<ms>-<seq>` is the event's place in it, as a Redis stream id spells it
 * (the time it was appended, then a sequence). Clients never read them;
 * the server compares two only within one epoch.
 */
export interface Position {
  readonly epoch: string
  /** `<ms>-<seq>`, a stream id. */
  readonly id: string
  readonly ms: number
  readonly seq: number
}

/** The place before any event: a history that was empty when `connected` gave it. */
export const START_ID = '0-0'

const OFFSET = /^([0-9a-z]{1,32})-(\d{1,15})-(\d{1,15})$/

export function offsetOf(epoch: string, id: string): string {
  return `${epoch}-${id}`
}

/** A well-formed offset, or null for anything this service never gives out. */
export function parseOffset(offset: unknown): Position | null {
  if (typeof offset !== 'string') return null
  const match = OFFSET.exec(offset)
  if (!match) return null
  const ms = Number(match[2])
  const seq = Number(match[3])
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) return null
  return { epoch: match[1]!, id: `${ms}-${seq}`, ms, seq }
}

/** Whether two offsets are of the same history (epoch); a malformed one is of none. */
export function sameHistory(a: string, b: string): boolean {
  const pa = parseOffset(a)
  const pb = parseOffset(b)
  return pa !== null && pb !== null && pa.epoch === pb.epoch
}

/** Whether offset `a` comes after `b`: true when they are of different histories (a new one starts after the old). */
export function isAfter(a: string, b: string): boolean {
  const pa = parseOffset(a)
  const pb = parseOffset(b)
  if (pa === null || pb === null || pa.epoch !== pb.epoch) return true
  return pa.ms > pb.ms || (pa.ms === pb.ms && pa.seq > pb.seq)
}

/** A stream id's two numbers. */
export function idParts(id: string): [number, number] {
  const dash = id.indexOf('-')
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))]
}

/**
 * The frame of an application event with its offset: the payload serialized
 * once without it (`{"type":…,"data":…}`), the offset spliced in before the
 * closing brace. Once per event, whatever the number of recipients.
 */
export function withOffset(payload: string, offset: string): string {
  return `${payload.slice(0, -1)},"offset":"${offset}"}`
}
