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

/** Where an offset stands against a position: after it, at or before it, or in another history (a malformed one is of none). */
export function placeOf(offset: string, position: Position): 'after' | 'not after' | 'another history' {
  const at = parseOffset(offset)
  if (at === null || at.epoch !== position.epoch) return 'another history'
  return at.ms > position.ms || (at.ms === position.ms && at.seq > position.seq) ? 'after' : 'not after'
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
