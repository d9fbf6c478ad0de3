/**
 * Shared test tools: build the app on a real port, sign and forge tokens,
 * connect WebSocket clients that queue what they receive, and wait on
 * messages with timeouts (never sleep and hope).
 */
import { createHmac, randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { WebSocket } from 'ws'
import { MongoClient, type Db } from 'mongodb'
import realtime, { type RealtimePluginOptions } from '../app.js'
import { realtimeLogSerializers } from '../lib/support/logging.js'
import { MemoryPresenceStore } from '../lib/presence/presence-store-memory.js'
import type { ChosenPresence } from '../schemas/common.js'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { serverMessages } from '../schemas/server-messages.js'

export const SECRET = 'test-secret-that-is-long-enough-0123456789'
/** A secret the service does not know: what it signs is badly signed. */
export const OTHER_SECRET = 'another-secret-that-is-long-enough-9876543210'
export const ISSUER = 'roomler2'
/** How long a test waits for something it expects. */
export const WAIT_MS = 5000

type Test = { teardown(fn: () => unknown): void }

/** A fresh random ObjectId (24 lowercase hex). */
export function objectId(): string {
  return randomBytes(12).toString('hex')
}

export type Ids = [string, string, string, string, string, string, string, string]
/** Eight fresh user ids, to destructure as many as a test needs. */
export function ids(): Ids {
  return Array.from({ length: 8 }, () => objectId()) as Ids
}

export interface BuiltApp {
  app: FastifyInstance
  /** http://127.0.0.1:<port> */
  url: string
  /** ws://127.0.0.1:<port>/ws */
  wsUrl: string
  /** Every log line the app wrote, as text. */
  logs: string[]
  token(sub: string, claims?: Record<string, unknown>): string
  connect(sub: string, options?: ConnectOptions): Promise<TestClient>
}

export interface BuildOptions extends RealtimePluginOptions {
  /** Run the same code the standalone server runs before listening (a host's own setup). */
  beforeListen?: (app: FastifyInstance) => Promise<void> | void
}

/** Builds the app as the standalone server does, on a free loopback port; closed when the test ends. */
export async function build(t: Test, options: BuildOptions = {}): Promise<BuiltApp> {
  const logs: string[] = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      logs.push(chunk.toString())
      done()
    },
  })
  const app = Fastify({ logger: { level: 'info', stream, serializers: realtimeLogSerializers } })
  const { beforeListen, ...pluginOptions } = options
  await app.register(realtime, {
    ...pluginOptions,
    jwt: { secret: SECRET, issuer: ISSUER, ...pluginOptions.jwt },
  })
  await beforeListen?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const url = `http://127.0.0.1:${port}`
  const wsUrl = `ws://127.0.0.1:${port}/ws`
  const built: BuiltApp = {
    app,
    url,
    wsUrl,
    logs,
    token: (sub, claims) => signToken({ sub, ...claims }),
    connect: (sub, connectOptions) => connect(t, wsUrl, built.token(sub), connectOptions),
  }
  return built
}

/** A valid Roomler2 access token for `sub`, signed with the test secret; `claims` override. */
export function signToken(claims: Record<string, unknown>, secret = SECRET): string {
  const now = Math.floor(Date.now() / 1000)
  return forgeToken(
    { alg: 'HS256', typ: 'JWT' },
    { email: 'user@example.test', username: 'user', iat: now, exp: now + 3600, iss: ISSUER, token_type: 'access', ...claims },
    secret,
  )
}

/** The claims of a valid access token for `sub`, with `over` applied (an `undefined` value drops the claim). */
export function claims(sub: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { sub, email: 'user@example.test', username: 'user', iat: now, exp: now + 3600, iss: ISSUER, token_type: 'access', ...over }
}

/** Any token at all: the header and payload as given, signed with HMAC for HS256/384/512, unsigned otherwise. */
export function forgeToken(header: Record<string, unknown>, payload: Record<string, unknown>, secret = SECRET): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signingInput = `${encode(header)}.${encode(payload)}`
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[String(header.alg)]
  const signature = hash ? createHmac(hash, secret).update(signingInput).digest('base64url') : ''
  return `${signingInput}.${signature}`
}

export interface ServerMessage {
  type: string
  data: Record<string, any>
}

/**
 * A message as it was before offsets (contract section 8): an application
 * event `{ type, data }` with its offset set aside, `connected` without
 * `data.offset`. The offset must be a string: one missing keeps a marker, so
 * that comparing with the message as published fails.
 */
export function withoutOffset(message: ServerMessage): ServerMessage {
  if (message.type === 'connected') {
    const { offset, ...data } = message.data
    return { ...message, data: typeof offset === 'string' ? data : { ...data, offset: `missing: ${String(offset)}` } }
  }
  const { offset, ...event } = message as ServerMessage & { offset?: unknown }
  return typeof offset === 'string' ? event : ({ ...event, offset: `missing: ${String(offset)}` } as ServerMessage)
}

export interface ConnectOptions {
  headers?: Record<string, string>
  /** More of the query, raw (`since=…`), after the token. */
  query?: string
  /** Wait for `connected` before resolving (default true). */
  awaitConnected?: boolean
  /** With awaitConnected, also wait for the user's own presence:update that follows it (default true). */
  awaitOwnPresence?: boolean
}

/** The published schema of each protocol message type, compiled once (application events are open). */
const publishedSchemas = new Map(Object.entries(serverMessages).map(([type, schema]) => [type, TypeCompiler.Compile(schema)]))

/** Why a received message breaks the published schema of its type, or undefined when it does not. */
export function schemaViolation(message: ServerMessage): string | undefined {
  const check = publishedSchemas.get(message?.type)
  if (!check || check.Check(message)) return undefined
  const error = check.Errors(message).First()
  return `the service sent a ${message.type} that breaks its published schema (${error?.path}: ${error?.message}): ${JSON.stringify(message)}`
}

/** A presence store whose reads wait until the test calls `release()`: the presence (and `connected`) wait until then. */
export class GatedPresenceStore extends MemoryPresenceStore {
  release!: () => void
  readonly #gate = new Promise<void>((resolve) => (this.release = resolve))

  override async chosenPresence(userId: string): Promise<ChosenPresence | undefined> {
    await this.#gate
    return super.chosenPresence(userId)
  }
}

/** A WebSocket client that keeps every message it receives, in order, for tests to wait on. */
export class TestClient {
  readonly received: ServerMessage[] = []
  /** Received messages that broke their published schema; `next` and the test's end fail on any. */
  readonly violations: string[] = []
  #cursor = 0
  #waiters: Array<() => void> = []
  closeCode: number | undefined
  closeReason = ''
  readonly closed: Promise<{ code: number; reason: string }>

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      this.received.push(isBinary ? { type: '<binary>', data: {} } : JSON.parse(data.toString()))
      const violation = schemaViolation(this.received[this.received.length - 1]!)
      if (violation) this.violations.push(violation)
      this.#wake()
    })
    this.closed = new Promise((resolve) => {
      socket.once('close', (code, reason) => {
        this.closeCode = code
        this.closeReason = reason.toString()
        this.#wake()
        resolve({ code, reason: this.closeReason })
      })
    })
  }

  #wake() {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  /**
   * The next unread message matching `match` (a type, or a predicate); the
   * messages it skips stay unread for later `next` calls only if `skip` is false.
   */
  async next(match?: string | ((m: ServerMessage) => boolean), timeoutMs = WAIT_MS): Promise<ServerMessage> {
    const test = typeof match === 'string' ? (m: ServerMessage) => m.type === match : (match ?? (() => true))
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (this.violations.length > 0) throw new Error(this.violations[0])
      while (this.#cursor < this.received.length) {
        const message = this.received[this.#cursor++]!
        if (test(message)) return message
      }
      if (this.closeCode !== undefined) {
        throw new Error(`connection closed (${this.closeCode} ${this.closeReason}) before a message matching ${String(match)}`)
      }
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new Error(`no message matching ${String(match)} within ${timeoutMs} ms; got ${JSON.stringify(this.received)}`)
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** Messages received since the last read, without waiting. */
  unread(): ServerMessage[] {
    const rest = this.received.slice(this.#cursor)
    this.#cursor = this.received.length
    return rest
  }

  /**
   * A round trip: sends `ping` and returns every message that arrived before
   * its `pong`. Whatever the server sent this connection before handling the
   * ping has arrived by then, so it proves what was not sent.
   */
  async sync(): Promise<ServerMessage[]> {
    const start = this.#cursor
    this.send({ type: 'ping' })
    await this.next('pong')
    return this.received.slice(start, this.#cursor - 1)
  }

  close(code?: number): Promise<{ code: number; reason: string }> {
    if (this.closeCode === undefined) this.socket.close(code)
    return this.closed
  }

  /** Drops the TCP connection without a close frame. */
  kill(): Promise<{ code: number; reason: string }> {
    this.socket.terminate()
    return this.closed
  }
}

/** Opens a WebSocket and waits for `connected`; closed when the test ends. */
export async function connect(t: Test, wsUrl: string, token: string, options: ConnectOptions = {}): Promise<TestClient> {
  const query = options.query === undefined ? '' : `&${options.query}`
  const socket = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}${query}`, { headers: options.headers })
  const client = new TestClient(socket)
  t.teardown(() => {
    if (client.closeCode === undefined) socket.terminate()
    if (client.violations.length > 0) throw new Error(client.violations.join('\n'))
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)))
  })
  if (options.awaitConnected ?? true) {
    const { data } = await client.next('connected')
    // Contract section 2: right after `connected`, the user's own real presence.
    if (options.awaitOwnPresence ?? true) await client.next((m) => m.type === 'presence:update' && m.data.user_id === data.user_id)
  }
  return client
}

/** Tries to open /ws and expects a refusal before the upgrade: its status and JSON body. */
export function refusal(url: string, headers?: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.once('open', () => {
      socket.terminate()
      reject(new Error('the upgrade was accepted'))
    })
    socket.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.on('end', () => {
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {}
        resolve({ status: res.statusCode ?? 0, body })
      })
    })
    socket.once('error', (error) => {
      if (!String(error.message).includes('Unexpected server response')) reject(error)
    })
  })
}

/** The MongoDB of this test run (FerretDB started by test/run.ts, or a real one). */
export function mongoUrl(): string {
  const url = process.env.TEST_MONGODB_URL
  if (!url) throw new Error('TEST_MONGODB_URL is not set: run the tests with `npm test`')
  return url
}

/** A database of this test's own, dropped when it ends; and a client to it. */
export async function testDatabase(t: Test, label: string): Promise<{ name: string; db: Db; client: MongoClient; url: string }> {
  const url = mongoUrl()
  const client = new MongoClient(url)
  await client.connect()
  const name = `rt_${label.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(4).toString('hex')}`
  const db = client.db(name)
  t.teardown(async () => {
    await db.dropDatabase().catch(() => {})
    await client.close()
  })
  return { name, db, client, url }
}

/** Waits until `check` holds, polling the state it reads (for state outside any message stream). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = WAIT_MS, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
