/**
 * The protocol as published documents, built from the TypeBox definitions in
 * `schemas/` (spelled for generators by ./json-schema.ts): one JSON Schema per
 * message both ways, a discriminated union per direction, the golden frames,
 * and an AsyncAPI 3.0 document of the whole protocol. `npm run schemas`
 * writes them into `generated/`; `GET /asyncapi.json` serves the same document.
 */
import { errorCodes, HttpError } from '../../schemas/errors.js'
import { MAX_PRESENCE_IDS, PresenceAnswer, PresenceQuery, PublishAnswer, PublishBody } from '../../schemas/http.js'
import { CloseCode, Closes } from '../connections/close-codes.js'
import { frameSchema, frameTitles, hoist, jsonSchemaFiles, publishedMessages, publishSchema, type Direction, type JsonSchema } from './json-schema.js'
import { goldenFrames } from './vectors.js'

/** The version of the protocol the document describes (not the package's). */
export const PROTOCOL_VERSION = '1.0.0'
/**
 * The project has not chosen a license yet (package.json names none); the
 * document says so rather than inventing one. Change both together.
 */
export const LICENSE = { name: 'UNLICENSED', url: 'https://docs.npmjs.com/cli/configuring-npm/package-json#license' }

/** What a client should do after each close code the server sends (the close table's advice). */
export const closeCodeAdvice = Closes


/** The answers `/ws` gives instead of upgrading (contract section 2). */
export const upgradeRefusals = {
  400: 'The token’s `sub` is not a 24-hex ObjectId; do not retry',
  401: 'The token is missing, malformed, badly signed, expired, of the wrong issuer or type, or not HS256, or `?token=` and `Authorization: Bearer` differ; do not retry with it',
  403: 'The `Origin` is not one of ROOMLER__APP__CORS_ORIGINS; do not retry',
  404: 'An upgrade on any path but `/ws` (`/ws/` included)',
  429: 'The user already holds MAX_CONNECTIONS_PER_USER connections; retry after a backoff',
} as const

function table(header: [string, string], rows: Array<[string, string]>): string {
  return [`| ${header[0]} | ${header[1]} |`, '|---|---|', ...rows.map(([a, b]) => `| ${a} | ${b} |`)].join('\n')
}

const closeCodeRows = (Object.keys(CloseCode) as Array<keyof typeof CloseCode>).map(
  (name) => [`\`${CloseCode[name]}\` ${name}`, closeCodeAdvice[name].description] as [string, string],
)

const description = `Presence, typing indicators and application events over one WebSocket, for a chat product beside Roomler2.

Open \`GET /ws?token=<access token>\`, or \`GET /ws\` with \`Authorization: Bearer <access token>\` where the client can set headers (a native app: the token stays out of proxy logs). The token is a Roomler2 access token (HS256 JWT with \`sub\`, \`iss\`, \`exp\`, \`token_type: "access"\`). A refused connection is answered over HTTP before any upgrade, with a JSON body \`{ "error", "message" }\`:

${table(['status', 'when'], Object.entries(upgradeRefusals).map(([status, when]) => [`\`${status}\``, when]))}

The first message on an accepted connection is \`connected\`. Every message both ways is one JSON text frame \`{ "type", "data" }\`; \`data\` holds exactly the fields of its schema. Bad input gets an \`error\` message and the connection stays open:

${table(['error code', 'when'], Object.entries(errorCodes).map(([code, when]) => [`\`${code}\``, when]))}

Close codes the server sends (a close without a frame, 1006, is a dropped connection: reconnect after a backoff):

${table(['close code', 'meaning'], closeCodeRows)}

HTTP beside the socket: \`GET /presence?user_ids=<id>,…\` with \`Authorization: Bearer <access token>\` answers the visible presence of up to ${MAX_PRESENCE_IDS} users, so a client can draw the list it opens with; \`GET /health\`, \`GET /ready\`; \`GET /asyncapi.json\` serves this document (see \`x-http\`).`

const ref = (path: string) => ({ $ref: path })
const json = (schema: string) => ({ contentType: 'application/json', schema: ref(`#/components/schemas/${schema}`) })

/** Every HTTP endpoint beside the socket, with every status it answers. */
function httpEndpoints(): JsonSchema {
  return {
    'GET /presence': {
      description: `Visible presence of up to ${MAX_PRESENCE_IDS} users (the asker’s own is real; unknown ids are offline)`,
      headers: { Authorization: 'Bearer <access token>' },
      query: ref('#/components/schemas/PresenceQuery'),
      responses: {
        200: json('PresenceAnswer'),
        400: { ...json('HttpError'), description: `user_ids missing, not ObjectIds, or more than ${MAX_PRESENCE_IDS}` },
        401: { ...json('HttpError'), description: 'no valid access token' },
      },
    },
    'GET /health': { description: 'While the process runs', responses: { 200: { description: 'alive' } } },
    'GET /ready': {
      description: 'Whether every dependency answers',
      responses: { 200: { description: 'ready, with the state of each dependency' }, 503: { description: 'a dependency (the database, Redis) is down; the body names it' } },
    },
    'GET /metrics': {
      description: 'Prometheus text: connections, users, messages in and out by type, errors by code, closed slow consumers',
      responses: { 200: { contentType: 'text/plain; version=0.0.4' } },
    },
    'POST /publish': {
      description: 'The application pushes an event (standalone); enabled by ROOMLER__REALTIME__API_KEY',
      headers: { Authorization: 'Bearer <ROOMLER__REALTIME__API_KEY>' },
      body: json('PublishBody'),
      responses: {
        202: json('PublishAnswer'),
        400: { ...json('HttpError'), description: 'a body that breaks the schema, not exactly one of user_ids/channel_id/everyone, or a reserved type' },
        401: { ...json('HttpError'), description: 'no or a wrong API key' },
        404: { ...json('HttpError'), description: 'ROOMLER__REALTIME__API_KEY is unset: the route is disabled' },
        413: { ...json('HttpError'), description: 'a body over 1 MiB' },
        415: { ...json('HttpError'), description: 'a Content-Type other than application/json' },
        503: { ...json('HttpError'), description: 'the channel’s members could not be read; retry' },
      },
    },
    'GET /asyncapi.json': { description: 'This document', responses: { 200: { contentType: 'application/json' } } },
  }
}

/** The message a whole direction is: its payload the direction's union, its examples every valid golden frame. */
function frameMessage(direction: Direction): JsonSchema {
  const title = frameTitles[direction]
  return {
    name: title,
    title,
    summary: direction === 'client' ? 'A frame a client sends' : 'A frame the service sends',
    contentType: 'application/json',
    payload: ref(`#/components/schemas/${title}`),
    examples: goldenFrames(direction)
      .filter((golden) => golden.valid)
      .map((golden) => ({ name: `${direction}-${golden.name}`, summary: golden.note || golden.variant, payload: golden.frame })),
    ...(direction === 'server' ? { 'x-error-codes': errorCodes } : {}),
  }
}

/**
 * The AsyncAPI 3.0 document of the whole protocol. One message and one
 * operation per direction, each message's payload its direction's `oneOf`
 * discriminated on `type`: the shape with which Modelina writes one union per
 * direction (one operation listing every message broke its Go, Java and
 * Python output). Every message's own schema is in `components.schemas`.
 */
export function buildAsyncApi(): JsonSchema {
  const messages = publishedMessages()
  const schemas: Record<string, JsonSchema> = {}
  for (const direction of ['client', 'server'] as const) {
    const members = messages
      .filter((m) => m.direction === direction)
      .map((m) => {
        schemas[m.name] = hoist(m.schema, '#/components/schemas/', schemas)
        return ref(`#/components/schemas/${m.name}`)
      })
    schemas[frameTitles[direction]] = frameSchema(direction, members)
  }
  schemas.HttpError = publishSchema(HttpError, 'HttpError', 'The JSON body of every refusal over HTTP')
  schemas.PresenceQuery = publishSchema(PresenceQuery, 'PresenceQuery')
  schemas.PresenceAnswer = hoist(publishSchema(PresenceAnswer, 'PresenceAnswer'), '#/components/schemas/', schemas)
  schemas.PublishBody = publishSchema(PublishBody, 'PublishBody', 'One event and its recipients: exactly one of user_ids, channel_id or everyone')
  schemas.PublishAnswer = publishSchema(PublishAnswer, 'PublishAnswer')

  return {
    asyncapi: '3.0.0',
    id: 'urn:roomler:realtime',
    info: {
      title: 'Roomler Realtime',
      version: PROTOCOL_VERSION,
      description,
      license: LICENSE,
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
        messages: { ClientFrame: ref('#/components/messages/ClientFrame'), ServerFrame: ref('#/components/messages/ServerFrame') },
        bindings: {
          ws: {
            method: 'GET',
            headers: {
              type: 'object',
              properties: { Authorization: { type: 'string', description: 'Bearer <access token>, instead of ?token= (the same rules; both, differing, get 401)' } },
            },
            query: {
              type: 'object',
              properties: {
                token: { type: 'string', description: 'A Roomler2 access token (HS256 JWT, token_type "access"), unless sent as Authorization: Bearer' },
                since: { type: 'string', description: 'The last offset the client received: the missed application events follow connected (section 8)' },
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
    operations: {
      receiveClientFrames: {
        // The document describes the service: it receives what clients send, and sends the rest.
        action: 'receive',
        channel: ref('#/channels/ws'),
        summary: 'The service receives every frame a client sends (a ping is answered by a pong)',
        messages: [ref('#/channels/ws/messages/ClientFrame')],
      },
      sendServerFrames: {
        action: 'send',
        channel: ref('#/channels/ws'),
        summary: 'The service sends the protocol’s messages and the application’s events',
        messages: [ref('#/channels/ws/messages/ServerFrame')],
      },
    },
    components: { schemas, messages: { ClientFrame: frameMessage('client'), ServerFrame: frameMessage('server') } },
    'x-http': httpEndpoints(),
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
  for (const direction of ['client', 'server'] as const) files.set(`vectors/${direction}.json`, toJsonText(goldenFrames(direction)))
  return files
}
