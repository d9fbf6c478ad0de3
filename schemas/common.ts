import { Type, type Static } from '@sinclair/typebox'

/** A MongoDB ObjectId as Roomler2 writes it: 24 hex digits. */
export const ObjectId = Type.String({
  pattern: '^[0-9a-fA-F]{24}$',
  description: 'A MongoDB ObjectId as 24 hex digits',
  errorMessage: 'expected an ObjectId (24 hex digits)',
  examples: ['65f1c0ffee0123456789abcd'],
})
export type ObjectId = Static<typeof ObjectId>

/** A state a user may choose for themself while connected. */
export const ChosenPresence = Type.Union(
  [Type.Literal('online'), Type.Literal('idle'), Type.Literal('dnd'), Type.Literal('invisible')],
  { title: 'ChosenPresence', description: 'A presence a connected user may choose' },
)
export type ChosenPresence = Static<typeof ChosenPresence>

/** A user's real presence: what they chose, or offline with no open connection. */
export const Presence = Type.Union([...ChosenPresence.anyOf, Type.Literal('offline')], {
  title: 'Presence',
  description: "A user's presence: the chosen state while connected, offline with no connection",
})
export type Presence = Static<typeof Presence>

/** What other users see: invisible is shown as offline. */
export const VisiblePresence = Type.Union(
  [Type.Literal('online'), Type.Literal('idle'), Type.Literal('dnd'), Type.Literal('offline')],
  { title: 'VisiblePresence', description: 'The presence other users see (invisible shows as offline)' },
)
export type VisiblePresence = Static<typeof VisiblePresence>

export function visiblePresence(presence: Presence): VisiblePresence {
  return presence === 'invisible' ? 'offline' : presence
}

const objectIdPattern = new RegExp(ObjectId.pattern!)

/** Whether a value is an ObjectId as the protocol accepts it (either letter case). */
export function isObjectId(value: unknown): value is ObjectId {
  return typeof value === 'string' && objectIdPattern.test(value)
}

/**
 * The one spelling of an id inside the service: lower case, as tokens, the
 * stores and the registry hold it. Applied where an id enters the library.
 */
export function normalizeId(id: string): string {
  return id.toLowerCase()
}

const chosenPresences: ReadonlySet<unknown> = new Set(ChosenPresence.anyOf.map((literal) => literal.const))

/** Whether a stored or received value is a presence a user may choose. */
export function isChosenPresence(value: unknown): value is ChosenPresence {
  return chosenPresences.has(value)
}

/**
 * Names an application event's place in the history (contract section 8): a
 * client keeps the last one it received and sends it back as `since`.
 */
export const Offset = Type.String({
  minLength: 1,
  description: 'An opaque position in the event history; keep the last one and reconnect with ?since=<offset>',
  examples: ['1733120000000-0'],
})
export type Offset = Static<typeof Offset>
