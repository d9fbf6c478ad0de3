/**
 * The published schemas (contract section 9): the committed files in
 * generated/ are what `npm run schemas` writes from schemas/ today, the
 * AsyncAPI document is valid and complete, and a client generated from the
 * JSON Schemas by a standard generator compiles and accepts what the running
 * service really sends. (That every message the service sends in the whole
 * suite matches its schema is checked by test/helper.ts on every message.)
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Parser } from '@asyncapi/parser'
import ts from 'typescript'
import { buildAsyncApi, generatedFiles } from '../lib/docs/asyncapi.js'
import { jsonSchemaFiles, publishedMessages } from '../lib/docs/json-schema.js'
import { CloseCode } from '../lib/connections/close-codes.js'
import { contractClientMessages } from '../schemas/client-messages.js'
import { errorCodes } from '../schemas/errors.js'
import { serverMessages } from '../schemas/server-messages.js'
import type { MemoryMembershipStore } from '../lib/membership/membership-store-memory.js'
import { build, objectId, schemaViolation, signToken, withoutOffset, type ServerMessage } from './helper.js'
import { internalsOf } from '../plugins/internals.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const GENERATED = join(ROOT, 'generated')

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
}

/** The parser's own bookkeeping, which it adds to every schema it reads. */
function withoutParserIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutParserIds)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).filter(([key]) => key !== 'x-parser-schema-id').map(([k, v]) => [k, withoutParserIds(v)]))
}

t.test('the committed files in generated/ are up to date with schemas/ (run `npm run schemas` when this fails)', async (t) => {
  const expected = generatedFiles()
  // openapi.json is written from the running routes; test/host/http.test.ts checks it is current.
  const onDisk = (await filesUnder(GENERATED)).filter((file) => file !== 'openapi.json')
  t.same(onDisk.sort(), [...expected.keys()].sort(), 'the same files, none missing and none left over')
  for (const [file, text] of expected) {
    const committed = await readFile(join(GENERATED, file), 'utf8').catch(() => '')
    t.ok(committed === text, `generated/${file} is current`)
  }
  const messageFiles = [...jsonSchemaFiles().keys()]
  for (const type of Object.keys(contractClientMessages)) t.ok(messageFiles.includes(`client/${type.replace(':', '-')}.json`), `client ${type} has its file`)
  for (const type of Object.keys(serverMessages)) t.ok(messageFiles.includes(`server/${type.replace(':', '-')}.json`), `server ${type} has its file`)
  t.ok(messageFiles.includes('client/frame.json') && messageFiles.includes('server/frame.json'), 'a union per direction')
})

t.test('GET /asyncapi.json serves the generated document', async (t) => {
  const { url } = await build(t)
  const response = await fetch(`${url}/asyncapi.json`)
  t.equal(response.status, 200)
  t.match(response.headers.get('content-type'), /^application\/json/)
  t.equal(await response.text(), await readFile(join(GENERATED, 'asyncapi.json'), 'utf8'))
})

t.test('the AsyncAPI document passes @asyncapi/parser and describes the whole protocol', async (t) => {
  const text = await readFile(join(GENERATED, 'asyncapi.json'), 'utf8')
  const { document, diagnostics } = await new Parser().parse(text)
  const errors = diagnostics.filter((d) => d.severity === 0)
  const warnings = diagnostics.filter((d) => d.severity === 1)
  t.same(errors.map((d) => `${d.code}: ${d.message} at ${d.path.join('/')}`), [], 'no errors')
  t.same(warnings.map((d) => `${d.code}: ${d.message} at ${d.path.join('/')}`), [], 'no warnings')
  if (!document) return t.fail('the parser returned no document')

  t.equal(document.version(), '3.0.0')
  const channel = document.channels().get('ws')
  t.equal(channel?.address(), '/ws', 'the /ws channel')
  const binding = channel?.bindings().get('ws')?.value() as { query?: { properties?: Record<string, unknown> }; headers?: { properties?: Record<string, unknown> } }
  t.ok(binding?.query?.properties?.token && binding?.headers?.properties?.Authorization, 'the token in ?token= or Authorization: Bearer')
  t.ok(document.info().license()?.name(), 'info.license')

  // One message and one operation per direction, its payload the direction's discriminated union.
  t.same(channel?.messages().all().map((m) => m.id()).sort(), ['ClientFrame', 'ServerFrame'])
  t.same(document.operations().all().map((o) => [o.id(), o.action(), o.messages().all().map((m) => m.id())]).sort(), [
    ['receiveClientFrames', 'receive', ['ClientFrame']],
    ['sendServerFrames', 'send', ['ServerFrame']],
  ])
  const published = publishedMessages()
  for (const direction of ['client', 'server'] as const) {
    const union = withoutParserIds(channel?.messages().get(direction === 'client' ? 'ClientFrame' : 'ServerFrame')?.payload()?.json()) as { discriminator?: string; oneOf?: Array<{ title?: string }> }
    t.equal(union.discriminator, 'type', `${direction}: discriminated on type`)
    t.same(union.oneOf?.map((m) => m.title), published.filter((m) => m.direction === direction).map((m) => m.name), `${direction}: every message, titled`)
  }
  for (const message of published) {
    t.ok((message.schema.examples as unknown[]).length > 0, `${message.name} has examples`)
    t.notOk(JSON.stringify(message.schema).includes('"anyOf"'), `${message.name}: enums as enum, no anyOf`)
  }
  const http = document.extensions().get('x-http')?.value() as Record<string, { responses?: Record<string, unknown> }>
  t.same(Object.keys(http['POST /publish']?.responses ?? {}), ['202', '400', '401', '404', '413', '415', '503'], 'every status of POST /publish')
  t.same(Object.keys(http['GET /ready']?.responses ?? {}), ['200', '503'])

  const errorExtension = channel?.messages().get('ServerFrame')?.extensions().get('x-error-codes')?.value()
  t.same(errorExtension, errorCodes, 'the error codes, with when each is sent')
  const closeCodes = channel?.extensions().get('x-close-codes')?.value() as Record<string, { name: string }>
  t.same(Object.keys(closeCodes).map(Number).sort(), Object.values(CloseCode).sort(), 'every close code')
  for (const [name, code] of Object.entries(CloseCode)) t.equal(closeCodes[code]?.name, name)
  t.ok(http['GET /presence'] && http['GET /asyncapi.json'], 'the HTTP endpoints beside the socket')
  t.match(document.info().description(), /GET \/presence/)
  t.same(JSON.parse(text), buildAsyncApi())
})

/** Types generated from the published JSON Schemas, as the README shows: one json2ts run per direction. */
async function generateTypes(outDir: string): Promise<void> {
  const cli = join(ROOT, 'node_modules/json-schema-to-typescript/dist/src/cli.js')
  for (const direction of ['client', 'server']) {
    await promisify(execFile)(process.execPath, [cli, '-i', `generated/json-schema/${direction}/*.json`, '-o', join(outDir, direction) + '/'], { cwd: ROOT })
  }
}

/** Type-checks `files` (name → source) strictly; returns the diagnostics as text. */
function typeCheck(dir: string, entry: string): string[] {
  const program = ts.createProgram([join(dir, entry)], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  })
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${relative(dir, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1} ` : ''
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n')
  })
}

t.test('types generated from the JSON Schemas by json-schema-to-typescript compile and accept real messages of the running service', async (t) => {
  // Real messages: two members of a channel, every kind of message both ways.
  const { app, connect } = await build(t)
  const membership = internalsOf(app).realtimeStores.membership as MemoryMembershipStore
  const [alice, bob, channel] = [objectId(), objectId(), objectId()]
  membership.addMember(channel, alice)
  membership.addMember(channel, bob)
  const a = await connect(alice)
  const b = await connect(bob)
  const sent: unknown[] = [
    { type: 'ping' },
    { type: 'ping', data: {} },
    { type: 'presence:update', data: { presence: 'dnd' } },
    { type: 'presence:subscribe', data: { user_ids: [alice, bob] } },
    { type: 'presence:unsubscribe', data: { user_ids: [alice] } },
    { type: 'typing:start', data: { channel_id: channel } },
    { type: 'typing:stop', data: { channel_id: channel } },
    { type: 'typing:start', data: { channel_id: objectId() } }, // forbidden
    { type: 'typing:start', data: { channel_id: 'nope' } }, // invalid_message, with details
    { type: 'auth:refresh', data: { token: signToken({ sub: bob }) } },
    { type: 'auth:refresh', data: { token: 'bad' } }, // unauthorized
  ]
  for (const message of sent) b.send(message)
  b.send('not json')
  b.send({ type: 'dance', data: {} })
  app.wsDispatcher.sendToUser(alice, { type: 'message:new', data: { text: 'hello', channel_id: channel } })
  await b.sync()
  await a.sync()
  const received: ServerMessage[] = [...a.received, ...b.received]
  const protocol = received.filter((m) => m.type in serverMessages)
  const pushed = received.filter((m) => !(m.type in serverMessages))
  t.same([...new Set(protocol.map((m) => m.type))].sort(), Object.keys(serverMessages).sort(), 'every server message type was captured')
  t.same(
    [...new Set(protocol.filter((m) => m.type === 'error').map((m) => m.data.code))].sort(),
    ['forbidden', 'invalid_json', 'invalid_message', 'unauthorized', 'unknown_type'],
    'and errors of five codes',
  )
  t.ok(protocol.some((m) => m.type === 'error' && m.data.details), 'one with details')
  t.same(pushed.map(withoutOffset), [{ type: 'message:new', data: { text: 'hello', channel_id: channel } }])

  const dir = await mkdtemp(join(tmpdir(), 'roomler-types-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await generateTypes(dir)
  t.ok((await readFile(join(dir, 'server/frame.d.ts'), 'utf8')).includes('export type ServerFrame'), 'json2ts wrote the server union')
  await writeFile(
    join(dir, 'check.ts'),
    `import type { ServerFrame as ServerMessage, PresenceUpdateEvent } from './server/frame.js'
import type { ApplicationEvent } from './server/application-event.js'
import type { ErrorMessage } from './server/error.js'
import type { ConnectedMessage } from './server/connected.js'
import type { ClientFrame as ClientMessage } from './client/frame.js'
import type { TypingStartMessage } from './client/typing-start.js'

export const received: ServerMessage[] = ${JSON.stringify(protocol, null, 2)}
export const pushed: ApplicationEvent[] = ${JSON.stringify(pushed)}
export const sent: ClientMessage[] = ${JSON.stringify(sent, null, 2)}

// The types are not loose: each of these is a compile error.
// @ts-expect-error away is no presence
export const badPresence: PresenceUpdateEvent = { type: 'presence:update', data: { user_id: 'a', presence: 'away' } }
// Error codes are open: a code added later still decodes.
export const laterCode: ErrorMessage = { type: 'error', data: { code: 'oops', message: 'm' } }
// @ts-expect-error an error carries a message
export const noMessage: ErrorMessage = { type: 'error', data: { code: 'forbidden' } }
// @ts-expect-error typing:start carries channel_id and nothing else
export const extraField: TypingStartMessage = { type: 'typing:start', data: { channel_id: 'c', user_id: 'u' } }
// @ts-expect-error a client cannot choose offline
export const offline: ClientMessage = { type: 'presence:update', data: { presence: 'offline' } }
// @ts-expect-error connected carries user_id
export const noUser: ConnectedMessage = { type: 'connected', data: {} }
`,
  )
  t.same(typeCheck(dir, 'check.ts'), [], 'tsc accepts every captured message and rejects the wrong ones')
})

t.test('the per-message check test/helper.ts runs on every received message reports a message that breaks its schema', async (t) => {
  const user = objectId()
  t.equal(schemaViolation({ type: 'presence:update', data: { user_id: user, presence: 'idle' } }), undefined)
  t.equal(schemaViolation({ type: 'message:new', data: { anything: 1 } }), undefined, 'application events are open')
  t.match(schemaViolation({ type: 'presence:update', data: { user_id: user, presence: 'away' } }), /presence:update .*\/data\/presence/)
  t.match(schemaViolation({ type: 'pong', data: { extra: true } }), /pong/)
  t.match(schemaViolation({ type: 'connected', data: { user_id: 'x' } }), /user_id/)
})
