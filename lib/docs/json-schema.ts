/**
 * The TypeBox definitions of `schemas/` as plain JSON Schema, in the shape
 * code generators (Modelina, quicktype, json-schema-to-typescript) turn into
 * good types: enums as `enum`, every object and enum titled, `examples` from
 * the golden frames, and one discriminated `oneOf` per direction with
 * application events as the open case. The service validates with the
 * TypeBox schemas themselves; what this file changes is spelling, not meaning.
 */
import { Type, type TSchema } from '@sinclair/typebox'
import * as clientModule from '../../schemas/client-messages.js'
import { contractClientMessages } from '../../schemas/client-messages.js'
import { Offset } from '../../schemas/common.js'
import { EventType } from '../../schemas/http.js'
import * as serverModule from '../../schemas/server-messages.js'
import { serverMessages } from '../../schemas/server-messages.js'
import { RESERVED_PREFIXES, RESERVED_TYPES } from '../protocol/reserved-types.js'
import { examplesOf } from './vectors.js'

/** The dialect of every published JSON Schema (AsyncAPI's default schema format is a superset of it). */
export const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#'

export type Direction = 'client' | 'server'
export type JsonSchema = Record<string, unknown>

/** Matches `text` whatever its case: JSON Schema patterns have no flags. */
function anyCase(text: string): string {
  return text.replace(/[a-z]/gi, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`)
}

/**
 * The types the protocol keeps for itself, as one pattern: those of
 * lib/protocol/reserved-types.ts, every server message's, and the contract's
 * `presence:*` (section 8), so that no frame is both a protocol message and
 * an application event.
 */
const reservedTypes = [...new Set([...RESERVED_TYPES, ...Object.keys(serverMessages)])]
const reservedPrefixes = RESERVED_PREFIXES
const RESERVED_PATTERN = `^(?:${reservedTypes.map(anyCase).join('|')})$|^(?:${reservedPrefixes.map(anyCase).join('|')})`

/** An event the application pushes (`wsDispatcher` or `POST /publish`): any type the protocol does not reserve. */
export const ApplicationEventSchema = Type.Object(
  {
    type: Type.String({
      ...EventType,
      description: `${EventType.description} (${[...reservedTypes, ...reservedPrefixes.map((p) => `${p}*`)].join(', ')}, in any case)`,
      not: { pattern: RESERVED_PATTERN },
    }),
    data: Type.Object({}, { additionalProperties: true, title: 'ApplicationEventData', description: 'As the application sends it' }),
    offset: Type.Optional(Type.String({ ...Offset, description: 'Its place in the history (section 8): keep the last one for ?since=' })),
  },
  { additionalProperties: false, title: 'ApplicationEvent', description: 'An event pushed by the application that embeds or stands beside the service' },
)

/** Keywords that are TypeBox's or this service's own, not part of the published schema. */
const PRIVATE_KEYWORDS = new Set(['$id', 'errorMessage', 'openEnum'])

const isStringConst = (value: unknown): value is { const: string } =>
  typeof value === 'object' && value !== null && typeof (value as { const?: unknown }).const === 'string'

/**
 * One node, rewritten for generators: a TypeBox union of string literals
 * becomes `enum` (an open one, `openEnum`, a documented string), and an empty
 * closed object says "no properties" with `maxProperties: 0`, which every
 * generator reads as an empty object where `additionalProperties: false`
 * made some write an empty class.
 */
function respell(node: JsonSchema): JsonSchema {
  const { anyOf, ...rest } = node
  if (Array.isArray(anyOf) && anyOf.length > 0 && anyOf.every(isStringConst)) {
    const values = anyOf.map((option) => option.const)
    if (node.openEnum === true) {
      const known = values.map((value, i) => `\`${value}\`: ${String((anyOf[i] as { description?: string }).description ?? '')}`)
      return { ...rest, type: 'string', description: `Known codes (a client must accept others too): ${known.join('; ')}`, examples: values }
    }
    return { ...rest, type: 'string', enum: values }
  }
  const patterns = node.patternProperties as Record<string, unknown> | undefined
  if (patterns && Object.keys(patterns).length === 1 && patterns['^(.*)$']) {
    // TypeBox's Record of any string key: a plain map, which generators read as one.
    const { patternProperties: _any, ...map } = node
    return { ...map, additionalProperties: patterns['^(.*)$'] }
  }
  if (node.type === 'object' && node.additionalProperties === false && Object.keys((node.properties as object) ?? {}).length === 0) {
    const { additionalProperties: _closed, properties: _none, required: _required, ...open } = node
    return { ...open, maxProperties: 0 }
  }
  return node
}

function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean)
  if (value === null || typeof value !== 'object') return value
  const node = respell(value as JsonSchema)
  const out: JsonSchema = {}
  for (const [key, inner] of Object.entries(node)) if (!PRIVATE_KEYWORDS.has(key)) out[key] = key === 'examples' || key === 'const' || key === 'enum' ? inner : clean(inner)
  return out
}

/** A TypeBox schema as plain JSON Schema, titled, with `title` and `description` first for the reader. */
export function publishSchema(schema: TSchema, title?: string, description?: string): JsonSchema {
  const { title: own, description: ownDescription, ...rest } = clean(schema) as JsonSchema
  const text = description ?? ownDescription
  return { title: title ?? own, ...(text === undefined ? {} : { description: text }), ...rest }
}

/**
 * Moves every titled schema inside `root` into `definitions` under its
 * title, leaving a `$ref` (prefix + title) in its place: one type per name
 * in every generator, however often the schema is used.
 */
export function hoist(root: JsonSchema, prefix: string, definitions: Record<string, JsonSchema>): JsonSchema {
  const visit = (value: unknown, top: boolean): unknown => {
    if (Array.isArray(value)) return value.map((item) => visit(item, false))
    if (value === null || typeof value !== 'object') return value
    const node: JsonSchema = {}
    for (const [key, inner] of Object.entries(value)) node[key] = key === 'examples' || key === 'enum' ? inner : visit(inner, false)
    if (top || typeof node.title !== 'string') return node
    const existing = definitions[node.title]
    if (existing && JSON.stringify(existing) !== JSON.stringify(node)) throw new Error(`two different schemas are titled ${node.title}`)
    definitions[node.title] = node
    return { $ref: `${prefix}${node.title}` }
  }
  return visit(root, true) as JsonSchema
}

/** The file a message's schema is published in, under `json-schema/`: `client/typing-start.json`. */
export function schemaFile(direction: Direction, type: string): string {
  return `${direction}/${type.replace(/[^a-zA-Z0-9_-]/g, '-')}.json`
}

export interface PublishedMessage {
  direction: Direction
  type: string
  /** The TypeBox export name, also the schema's title: `TypingStartMessage`. */
  name: string
  /** Its id in the AsyncAPI document: `client.typing-start`. */
  id: string
  /** Standalone (every subschema inline), with its examples. */
  schema: JsonSchema
  file: string
}

/** The name a schema is exported under in its module: the title of its published form. */
function exportName(module: Record<string, unknown>, schema: TSchema): string {
  const name = Object.entries(module).find(([, value]) => value === schema)?.[0]
  if (!name) throw new Error(`schema ${String(schema.$id)} is not exported by name`)
  if (schema.title !== undefined && schema.title !== name) throw new Error(`schema ${name} is titled ${String(schema.title)}`)
  return name
}

/** Every message of the protocol both ways, application events last. */
export function publishedMessages(): PublishedMessage[] {
  const messages: PublishedMessage[] = []
  const add = (direction: Direction, type: string, name: string, schema: TSchema) => {
    const examples = examplesOf(direction, name)
    if (examples.length === 0) throw new Error(`no golden frame is a valid ${name}: add one to lib/docs/vectors.ts`)
    messages.push({
      direction,
      type,
      name,
      id: `${direction}.${type.replace(/:/g, '-')}`,
      schema: { ...publishSchema(schema, name), examples },
      file: schemaFile(direction, type),
    })
  }
  for (const [type, schema] of Object.entries(contractClientMessages)) add('client', type, exportName(clientModule, schema), schema)
  for (const [type, schema] of Object.entries(serverMessages)) add('server', type, exportName(serverModule, schema), schema)
  add('server', 'application-event', 'ApplicationEvent', ApplicationEventSchema)
  return messages
}

export const frameTitles = { client: 'ClientFrame', server: 'ServerFrame' } as const

const frameDescriptions = {
  client: 'Any frame a client may send, by `type`',
  server: 'Any frame a client may receive, by `type`: the protocol’s messages, and every other type an application event',
} as const

/**
 * The union of one direction, `members` being `$ref`s (or inline schemas) in
 * the order of `publishedMessages()`: a `oneOf` discriminated on `type`.
 * (The members exclude each other: an application event's type is never a
 * protocol message's.)
 */
export function frameSchema(direction: Direction, members: JsonSchema[]): JsonSchema {
  return { title: frameTitles[direction], description: frameDescriptions[direction], type: 'object', discriminator: 'type', oneOf: members }
}

/** A direction's messages, one file: `client/frame.json`, `server/frame.json`, every named type in `definitions`. */
function frameFile(direction: Direction, messages: PublishedMessage[]): JsonSchema {
  const definitions: Record<string, JsonSchema> = {}
  const refs = messages
    .filter((m) => m.direction === direction)
    .map((m) => {
      definitions[m.name] = hoist(m.schema, '#/definitions/', definitions)
      return { $ref: `#/definitions/${m.name}` }
    })
  return { ...frameSchema(direction, refs), definitions }
}

/** Every published JSON Schema file, by its path under `json-schema/`. */
export function jsonSchemaFiles(): Map<string, JsonSchema> {
  const files = new Map<string, JsonSchema>()
  const messages = publishedMessages()
  for (const message of messages) files.set(message.file, { $schema: JSON_SCHEMA_DIALECT, ...message.schema })
  for (const direction of ['client', 'server'] as const) files.set(`${direction}/frame.json`, { $schema: JSON_SCHEMA_DIALECT, ...frameFile(direction, messages) })
  return files
}
