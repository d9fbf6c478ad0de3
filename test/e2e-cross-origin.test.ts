/**
 * The typed client in a real browser on a second origin (issue 11 item 11;
 * contract section 2): the page is served from one origin, the service (the
 * built standalone server, ROOMLER__APP__CORS_ORIGINS naming the page's
 * origin) listens on another. The page starts the client with an expired
 * token; what it observes is the assertion: how often `getToken` was asked,
 * what each failed attempt could tell, and the `connected` that follows.
 *
 * - Straight to the service: the refusal's status is readable cross-origin
 *   (the service answers with CORS headers), so 401 asks `getToken` at once.
 * - Through a proxy that drops CORS headers (as many do): the browser can
 *   read nothing about the failure, so the client asks `getToken` after
 *   SILENT_FAILURES_BEFORE_NEW_TOKEN failures in a row.
 */
import t from 'tap'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net'
import { join, normalize, sep } from 'node:path'
import type { Browser } from 'playwright-core'
import { SILENT_FAILURES_BEFORE_NEW_TOKEN } from '../client/index.js'
import { DEV_JWT_SECRET } from '../schemas/config.js'
import { objectId, signToken } from './helper.js'
import { ensureBuilt, launchChromium } from './servers/browser.js'
import { ROOT, spawnStandalone } from './servers/standalone.js'

/** How long the page may take to connect. */
const WAIT_MS = 15_000
const DIST = join(ROOT, 'dist')

/** Listens on a free loopback port; closed when the test ends. Its origin. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  t.teardown(() => new Promise((done) => server.close(done)))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** The page's origin: an empty page at `/`, and the built JS of dist/ (the client and anything it imports). */
function pageServer(): Server {
  return createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://page').pathname
    if (path === '/') return response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>another origin</title>')
    const file = normalize(join(DIST, path))
    const found = file.startsWith(DIST + sep) && file.endsWith('.js') && (await stat(file).then((s) => s.isFile(), () => false))
    if (!found) return response.writeHead(404).end()
    response.writeHead(200, { 'content-type': 'text/javascript' })
    createReadStream(file).pipe(response)
  })
}

/** The request line and headers of `request` as they came, for passing an upgrade on. */
function head(request: IncomingMessage): string {
  const lines = [`${request.method} ${request.url} HTTP/1.1`]
  for (let i = 0; i < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

/** A reverse proxy to `target` that passes upgrades through and drops every CORS header from plain answers. */
function corsDroppingProxy(target: string): Server {
  const { hostname, port } = new URL(target)
  const sockets = new Set<Socket>()
  const server = createServer((request, response) => {
    const forwarded = httpRequest({ host: hostname, port, path: request.url, method: request.method, headers: request.headers }, (answer) => {
      const headers = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !name.startsWith('access-control-')))
      response.writeHead(answer.statusCode ?? 502, headers)
      answer.pipe(response)
    })
    forwarded.once('error', () => response.writeHead(502).end())
    request.pipe(forwarded)
  })
  server.on('upgrade', (request: IncomingMessage, client: Socket, early: Buffer) => {
    const upstream = tcpConnect(Number(port), hostname, () => {
      upstream.write(head(request))
      upstream.write(early)
      upstream.pipe(client).pipe(upstream)
    })
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
      socket.once('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
  })
  // Open WebSockets would keep close() waiting.
  const close = server.close.bind(server)
  server.close = (done) => {
    for (const socket of sockets) socket.destroy()
    return close(done)
  }
  return server
}

interface Observed {
  /** In order: `getToken`, `failed <status|unreadable>` for each failed attempt, `connected <user_id>`, or `closed …`. */
  events: string[]
  getTokenCalls: number
}

/** Opens the page and runs the client there against `wsUrl`, starting with `expired`; `getToken` hands out `fresh`. */
async function runClient(browser: Browser, pageOrigin: string, wsUrl: string, expired: string, fresh: string): Promise<Observed> {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  // tsx keeps function names with a `__name` helper that the page does not have.
  await page.addInitScript('globalThis.__name = (fn) => fn')
  await page.goto(pageOrigin)
  return page.evaluate(
    async ({ wsUrl, expired, fresh, waitMs }) => {
      const { RealtimeClient } = await import('/client/index.js' as string)
      const events: string[] = []
      let getTokenCalls = 0
      const client = new RealtimeClient({
        url: wsUrl,
        token: expired,
        reconnect: { initialDelayMs: 20, maxDelayMs: 50, maxAttempts: 10 },
        getToken: () => {
          getTokenCalls++
          events.push('getToken')
          return fresh
        },
      })
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          events.push(`no connected within ${waitMs} ms`)
          resolve()
        }, waitMs)
        const end = (event: string) => {
          clearTimeout(timer)
          events.push(event)
          resolve()
        }
        client.on('connected', (message: { data: { user_id: string } }) => end(`connected ${message.data.user_id}`))
        client.onState((change: { state: string; reason?: { status?: number; message: string } }) => {
          if (change.state === 'reconnecting') events.push(`failed ${change.reason?.status ?? 'unreadable'}`)
          if (change.state === 'closed') end(`closed ${change.reason?.message}`)
        })
      })
      client.connect()
      await done
      const observed = { events: [...events], getTokenCalls }
      client.close()
      return observed
    },
    { wsUrl, expired, fresh, waitMs: WAIT_MS },
  )
}

await ensureBuilt()
const pageOrigin = await listen(pageServer())
const service = await spawnStandalone(t, { built: true, env: { LOG_LEVEL: 'warn', ROOMLER__APP__CORS_ORIGINS: pageOrigin } })
await service.line(/^Open the demo page:/)
const browser = await launchChromium(t)

function tokens(sub: string) {
  const now = Math.floor(Date.now() / 1000)
  return {
    expired: signToken({ sub, iat: now - 7200, exp: now - 60 }, DEV_JWT_SECRET),
    fresh: signToken({ sub }, DEV_JWT_SECRET),
  }
}

t.test('a page on another origin learns its token expired (401, readable) and connects with one from getToken', async (t) => {
  t.not(new URL(pageOrigin).origin, new URL(service.url).origin, 'the page and the service are different origins')
  const sub = objectId()
  const { expired, fresh } = tokens(sub)
  const observed = await runClient(browser, pageOrigin, service.wsUrl, expired, fresh)
  t.same(observed, { events: ['getToken', 'failed 401', `connected ${sub}`], getTokenCalls: 1 }, 'getToken at the first refusal, then connected')
})

t.test('behind a proxy that drops CORS headers, the page asks getToken after a few unreadable failures and connects', async (t) => {
  const proxy = await listen(corsDroppingProxy(service.url))
  const sub = objectId()
  const { expired, fresh } = tokens(sub)
  const observed = await runClient(browser, pageOrigin, `${proxy.replace(/^http/, 'ws')}/ws`, expired, fresh)
  const unreadable = Array.from({ length: SILENT_FAILURES_BEFORE_NEW_TOKEN - 1 }, () => 'failed unreadable')
  t.same(
    observed,
    { events: [...unreadable, 'getToken', 'failed unreadable', `connected ${sub}`], getTokenCalls: 1 },
    `getToken once, after ${SILENT_FAILURES_BEFORE_NEW_TOKEN} failures with no readable status, then connected`,
  )
})
