/**
 * The protocol as published documents, built from the TypeBox definitions in
 * `schemas/`: one JSON Schema per message both ways, a union per direction,
 * and an AsyncAPI 3.0 document of the whole protocol. `npm run schemas`
 * writes them into `generated/`; `GET /asyncapi.json` serves the same document.
 */
import { Type, type TSchema } from '@sinclair/typebox'
import * as clientModule from '../../schemas/client-messages.js'
import { clientMessages } from '../../schemas/client-messages.js'
import * as serverModule from '../../schemas/server-messages.js'
import { serverMessages } from '../../schemas/server-messages.js'
import { errorCodes, HttpError } from '../../schemas/errors.js'
import { EventType, MAX_PRESENCE_IDS, PresenceAnswer, PresenceQuery, PublishAnswer, PublishBody } from '../../schemas/http.js'
import { CloseCode, Closes } from '../connections/close-codes.js'
import { RESERVED_PREFIXES, RESERVED_TYPES } from '../protocol/reserved-types.js'

/** The version of the protocol the document describes (not the package's). */
export const PROTOCOL_VERSION = '1.0.0'
/** The dialect of every published JSON Schema (AsyncAPI's default schema format is a superset of it). */
export const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#'

export type Direction = 'client' | 'server'
export type JsonSchema = Record<string, unknown>

/** What a client should do after each close code the server sends (the close table's advice). */
export const closeCodeAdvice = Closes


/** The answers `/ws` gives instead of upgrading (contract section 2). */
export const upgradeRefusals = {
  400: 'The token’s `sub` is not a 24-hex ObjectId; do not retry',
  401: 'The token is missing, malformed, badly signed, expired, of the wrong issuer or type, or not HS256; do not retry with it',
  403: 'The `Origin` is not one of ROOMLER__APP__CORS_ORIGINS; do not retry',
  429: 'The user already holds MAX_CONNECTIONS_PER_USER connections; retry after a backoff',
} as const

/** Matches `text` whatever its case: JSON Schema patterns have no flags. */
function anyCase(text: string): string {
  return text.replace(/[a-z]/gi, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`)
}

/** The types the protocol keeps for itself (lib/protocol/reserved-types.ts), as one pattern. */
const RESERVED_PATTERN = `^(?:${RESERVED_TYPES.map(anyCase).join('|')})$|^(?:${RESERVED_PREFIXES.map(anyCase).join('|')})`

/** An event the application pushes (`wsDispatcher` or `POST /publish`): any type the protocol does not reserve. */
export const ApplicationEventSchema = Type.Object(
  {
    type: Type.String({
      ...EventType,
      description: `${EventType.description} (${[...RESERVED_TYPES, ...RESERVED_PREFIXES.map((p) => `${p}*`)].join(', ')}, in any case)`,
      not: { pattern: RESERVED_PATTERN },
    }),
    data: Type.Object({}, { additionalProperties: true, description: 'As the application sends it' }),
  },
  { additionalProperties: false, description: 'An event pushed by the application that embeds or stands beside the service' },
)

/** The name a schema is exported under in its module: the title of its published form. */
function exportName(module: Record<string, unknown>, schema: TSchema): string {
  const name = Object.entries(module).find(([, value]) => value === schema)?.[0]
  if (!name) throw new Error(`schema ${String(schema.$id)} is not exported by name`)
  return name
}

/** Keywords that are TypeBox's or this service's own, not part of the published schema. */
const PRIVATE_KEYWORDS = new Set(['$id', 'errorMessage'])

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip)
  if (value === null || typeof value !== 'object') return value
  const out: JsonSchema = {}
  for (const [key, inner] of Object.entries(value)) if (!PRIVATE_KEYWORDS.has(key)) out[key] = strip(inner)
  return out
}

/** A TypeBox schema as plain JSON Schema, titled, with `title` and `description` first for the reader. */
export function publishSchema(schema: TSchema, title: string, description?: string): JsonSchema {
  const { description: own, ...rest } = strip(schema) as JsonSchema
  const text = description ?? own
  return { title, ...(text === undefined ? {} : { description: text }), ...rest }
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
  schema: JsonSchema
  file: string
}

/** Every message of the protocol both ways, application events last. */
export function publishedMessages(): PublishedMessage[] {
  const messages: PublishedMessage[] = []
  const add = (direction: Direction, type: string, name: string, schema: JsonSchema) =>
    messages.push({ direction, type, name, id: `${direction}.${type.replace(/:/g, '-')}`, schema, file: schemaFile(direction, type) })
  for (const [type, schema] of Object.entries(clientMessages)) {
    add('client', type, exportName(clientModule, schema), publishSchema(schema, exportName(clientModule, schema)))
  }
  for (const [type, schema] of Object.entries(serverMessages)) {
    add('server', type, exportName(serverModule, schema), publishSchema(schema, exportName(serverModule, schema)))
  }
  add('server', 'application-event', 'ApplicationEvent', publishSchema(ApplicationEventSchema, 'ApplicationEvent'))
  return messages
}

/** The union of every message one way, each member titled: `client/message.json`, `server/message.json`. */
function unionSchemas(messages: PublishedMessage[]): Array<{ file: string; schema: JsonSchema }> {
  const members = (direction: Direction) =>
    messages.filter((m) => m.direction === direction && m.type !== 'application-event').map((m) => m.schema)
  return [
    {
      file: 'client/message.json',
      schema: { title: 'ClientMessage', description: 'Every message a client may send', anyOf: members('client') },
    },
    {
      file: 'server/message.json',
      schema: {
        title: 'ServerMessage',
        description: 'Every message the protocol itself sends; events the application pushes (application-event.json) come besides',
        anyOf: members('server'),
      },
    },
  ]
}

/** Every published JSON Schema file, by its path under `json-schema/`. */
export function jsonSchemaFiles(): Map<string, JsonSchema> {
  const files = new Map<string, JsonSchema>()
  const messages = publishedMessages()
  for (const message of messages) files.set(message.file, { $schema: JSON_SCHEMA_DIALECT, ...message.schema })
  for (const { file, schema } of unionSchemas(messages)) files.set(file, { $schema: JSON_SCHEMA_DIALECT, ...schema })
  return files
}

function table(header: [string, string], rows: Array<[string, string]>): string {
  return [`| ${header[0]} | ${header[1]} |`, '|---|---|', ...rows.map(([a, b]) => `| ${a} | ${b} |`)].join('\n')
}

const closeCodeRows = (Object.keys(CloseCode) as Array<keyof typeof CloseCode>).map(
  (name) => [`\`${CloseCode[name]}\` ${name}`, closeCodeAdvice[name].description] as [string, string],
)

const description = `Presence, typing indicators and application events over one WebSocket, for a chat product beside Roomler2.

Open \`GET /ws?token=<access token>\`. The token is a Roomler2 access token (HS256 JWT with \`sub\`, \`iss\`, \`exp\`, \`token_type: "access"\`). A refused connection is answered over HTTP before any upgrade, with a JSON body \`{ "error", "message" }\`:

${table(['status', 'when'], Object.entries(upgradeRefusals).map(([status, when]) => [`\`${status}\``, when]))}

The first message on an accepted connection is \`connected\`. Every message both ways is one JSON text frame \`{ "type", "data" }\`; \`data\` holds exactly the fields of its schema. Bad input gets an \`error\` message and the connection stays open:

${table(['error code', 'when'], Object.entries(errorCodes).map(([code, when]) => [`\`${code}\``, when]))}

Close codes the server sends (a close without a frame, 1006, is a dropped connection: reconnect after a backoff):

${table(['close code', 'meaning'], closeCodeRows)}

HTTP beside the socket: \`GET /presence?user_ids=<id>,…\` with \`Authorization: Bearer <access token>\` answers the visible presence of up to ${MAX_PRESENCE_IDS} users, so a client can draw the list it opens with; \`GET /health\`, \`GET /ready\`; \`GET /asyncapi.json\` serves this document (see \`x-http\`).`

const ref = (path: string) => ({ $ref: path })

/** The AsyncAPI 3.0 document of the whole protocol. */
export function buildAsyncApi(): JsonSchema {
  const messages = publishedMessages()
  const componentMessages: JsonSchema = {}
  const componentSchemas: JsonSchema = {}
  const channelMessages: JsonSchema = {}
  const operations: JsonSchema = {}

  for (const message of messages) {
    const { title, description: summary, ...schema } = message.schema
    componentSchemas[message.name] = { title, description: summary, ...schema }
    componentMessages[message.id] = {
      name: message.type,
      title: message.name,
      summary,
      contentType: 'application/json',
      payload: ref(`#/components/schemas/${message.name}`),
      ...(message.type === 'error'
        ? { 'x-error-codes': errorCodes }
        : {}),
    }
    channelMessages[message.id] = ref(`#/components/messages/${message.id}`)
    const sentByClient = message.direction === 'client'
    operations[message.id] = {
      // The document describes the service: it receives what clients send, and sends the rest.
      action: sentByClient ? 'receive' : 'send',
      channel: ref('#/channels/ws'),
      summary: sentByClient ? `A client sends ${message.type}` : `The service sends ${message.type === 'application-event' ? 'an application event' : message.type}`,
      messages: [ref(`#/channels/ws/messages/${message.id}`)],
      ...(message.type === 'ping'
        ? { reply: { channel: ref('#/channels/ws'), messages: [ref('#/channels/ws/messages/server.pong')] } }
        : {}),
    }
  }
  componentSchemas.ClientMessage = {
    title: 'ClientMessage',
    description: 'Every message a client may send',
    anyOf: messages.filter((m) => m.direction === 'client').map((m) => ref(`#/components/schemas/${m.name}`)),
  }
  componentSchemas.ServerMessage = {
    title: 'ServerMessage',
    description: 'Every message the protocol itself sends (application events come besides)',
    anyOf: messages.filter((m) => m.direction === 'server' && m.type !== 'application-event').map((m) => ref(`#/components/schemas/${m.name}`)),
  }
  componentSchemas.HttpError = publishSchema(HttpError, 'HttpError', 'The JSON body of every refusal over HTTP')
  componentSchemas.PresenceQuery = publishSchema(PresenceQuery, 'PresenceQuery')
  componentSchemas.PresenceAnswer = publishSchema(PresenceAnswer, 'PresenceAnswer')
  componentSchemas.PublishBody = publishSchema(PublishBody, 'PublishBody', 'One event and its recipients: exactly one of user_ids, channel_id or everyone')
  componentSchemas.PublishAnswer = publishSchema(PublishAnswer, 'PublishAnswer')

  return {
    asyncapi: '3.0.0',
    id: 'urn:roomler:realtime',
    info: {
      title: 'Roomler Realtime',
      version: PROTOCOL_VERSION,
      description,
      tags: [{ name: 'presence' }, { name: 'typing' }, { name: 'events' }],
    },
    defaultContentType: 'application/json',
    servers: {
      standalone: {
        host: '{host}',
        protocol: 'ws',
        description: 'The standalone service, or the API that embeds it (use wss behind TLS)',
        variables: { host: { default: 'localhost:3000', description: 'Host and port the service listens on' } },
      },
    },
    channels: {
      ws: {
        address: '/ws',
        title: 'The realtime connection',
        description: 'One WebSocket per tab or device. The upgrade happens only after the token is verified; refusals are HTTP answers (see x-upgrade-refusals). The server closes with the codes in x-close-codes.',
        servers: [ref('#/servers/standalone')],
        messages: channelMessages,
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              required: ['token'],
              properties: {
                token: { type: 'string', description: 'A Roomler2 access token (HS256 JWT, token_type "access")' },
              },
            },
            bindingVersion: '0.1.0',
          },
        },
        'x-upgrade-refusals': upgradeRefusals,
        'x-close-codes': Object.fromEntries(
          (Object.keys(CloseCode) as Array<keyof typeof CloseCode>).map((name) => [
            String(CloseCode[name]),
            { name, reconnect: closeCodeAdvice[name].reconnect, description: closeCodeAdvice[name].description },
          ]),
        ),
      },
    },
    operations,
    components: { schemas: componentSchemas, messages: componentMessages },
    'x-http': {
      'GET /presence': {
        description: `Visible presence of up to ${MAX_PRESENCE_IDS} users (the asker’s own is real; unknown ids are offline)`,
        headers: { Authorization: 'Bearer <access token>' },
        query: ref('#/components/schemas/PresenceQuery'),
        responses: { 200: ref('#/components/schemas/PresenceAnswer'), 400: ref('#/components/schemas/HttpError'), 401: ref('#/components/schemas/HttpError') },
      },
      'GET /health': { description: '200 while the process runs' },
      'GET /ready': { description: '200, or 503 with the state of each dependency' },
      'GET /metrics': { description: 'Prometheus text: connections, users, messages in and out by type, errors by code, closed slow consumers' },
      'POST /publish': {
        description: 'The application pushes an event (standalone); enabled by ROOMLER__REALTIME__API_KEY, 404 without it',
        headers: { Authorization: 'Bearer <ROOMLER__REALTIME__API_KEY>' },
        body: ref('#/components/schemas/PublishBody'),
        responses: {
          202: ref('#/components/schemas/PublishAnswer'),
          400: ref('#/components/schemas/HttpError'),
          401: ref('#/components/schemas/HttpError'),
          404: ref('#/components/schemas/HttpError'),
        },
      },
      'GET /asyncapi.json': { description: 'This document' },
    },
  }
}

/** Deterministic JSON text of a published file. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n'
}

/** Every file `npm run schemas` writes, by its path under `generated/`, with its text. */
export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>()
  files.set('asyncapi.json', toJsonText(buildAsyncApi()))
  for (const [file, schema] of jsonSchemaFiles()) files.set(`json-schema/${file}`, toJsonText(schema))
  return files
}
