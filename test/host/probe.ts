/**
 * Raw HTTP probes for the plugin's surfaces: a plain request or a WebSocket
 * upgrade on any path and method, answered with its status, headers and body
 * (an accepted upgrade is reported as 101 and its socket destroyed at once).
 */
import { request as httpRequest } from 'node:http'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

export interface ProbeOptions {
  method?: string
  headers?: Record<string, string>
  /** Send it as a WebSocket upgrade. */
  upgrade?: boolean
  body?: string
}

/** One request to `base` + `path` (path as written: no normalization). */
export function probe(base: string, path: string, options: ProbeOptions = {}): Promise<Answer> {
  const url = new URL(base)
  const headers: Record<string, string> = { ...options.headers }
  if (options.upgrade) {
    Object.assign(headers, {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': randomBytes(16).toString('base64'),
    })
  }
  return new Promise((resolve, reject) => {
    // A connection per probe: a refused upgrade's socket is destroyed after its answer.
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers, agent: false })
    const timer = setTimeout(() => req.destroy(new Error(`no answer to ${options.method ?? 'GET'} ${path} within 5 s`)), 5000)
    req.once('upgrade', (res, socket) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' })
    })
    req.once('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.once('end', () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
      })
    })
    req.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    req.end(options.body)
  })
}

/** A log stream that keeps every line, for a test to scan. */
export function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean))
      done()
    },
  })
  return { stream, lines }
}

/** Every character of `text` as %XX: no JWT-shaped run left in the raw URL. */
export function percentEncoded(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('')
}

/** The text with its percent-escapes read, so a log scan finds an encoded token too. */
export function percentDecoded(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
    try {
      return decodeURIComponent(run)
    } catch {
      return run
    }
  })
}

/** The token's header and payload without the signature: not a credential, but it still tells who the user is. */
export function unsigned(token: string): string {
  return token.split('.').slice(0, 2).join('.')
}

/**
 * The ways a token reaches a URL or a header that is not the admitted
 * `/ws?token=` (issue 11 item 1), under a prefix: each with the status the
 * contract gives it.
 */
export function tokenVariants(prefix: string, token: string): Array<{ what: string; path: string; options: ProbeOptions; status: number }> {
  const q = encodeURIComponent(token)
  return [
    { what: 'an upgrade on /ws/ (trailing slash)', path: `${prefix}/ws/?token=${q}`, options: { upgrade: true }, status: 404 },
    { what: 'a plain GET of /ws/', path: `${prefix}/ws/?token=${q}`, options: {}, status: 404 },
    { what: 'an upgrade on /WS', path: `${prefix}/WS?token=${q}`, options: { upgrade: true }, status: 404 },
    { what: 'POST /ws', path: `${prefix}/ws?token=${q}`, options: { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }, status: 404 },
    { what: 'an upgrade on /health', path: `${prefix}/health?token=${q}`, options: { upgrade: true }, status: 404 },
    { what: 'an upgrade on an unknown path', path: `${prefix}/nowhere?token=${q}`, options: { upgrade: true }, status: 404 },
    { what: 'access_token= on /ws', path: `${prefix}/ws?access_token=${q}`, options: { upgrade: true }, status: 401 },
    { what: 'a repeated token key on /ws', path: `${prefix}/ws?token=${q}&token=${q}`, options: { upgrade: true }, status: 401 },
    { what: 'token[] on /ws', path: `${prefix}/ws?token[]=${q}`, options: { upgrade: true }, status: 401 },
    { what: 'a token in a header on an unknown path', path: `${prefix}/nowhere`, options: { headers: { authorization: `Bearer ${token}` } }, status: 404 },
    { what: 'a header and a different query token on /ws', path: `${prefix}/ws?token=${q}`, options: { upgrade: true, headers: { authorization: `Bearer ${token}x` } }, status: 401 },
    { what: 'the token as a bare query key', path: `${prefix}/nowhere?${q}`, options: {}, status: 404 },
    { what: 'the token as a path segment after /ws', path: `${prefix}/ws/${q}`, options: { upgrade: true }, status: 404 },
    { what: 'the token in an unmatched path', path: `${prefix}/nope/${q}`, options: {}, status: 404 },
    { what: 'the token percent-encoded in an unmatched path', path: `${prefix}/nope/${percentEncoded(token)}`, options: {}, status: 404 },
    { what: 'token= inside a percent-encoded value', path: `${prefix}/ws?x=1%26token%3D${q}`, options: { upgrade: true }, status: 401 },
    { what: 'the token percent-encoded under another key', path: `${prefix}/ws?x=${percentEncoded(token)}`, options: { upgrade: true }, status: 401 },
    { what: 'the token under any key name', path: `${prefix}/ws?auth=${q}`, options: { upgrade: true }, status: 401 },
    { what: 'a partial token (header.payload, no signature)', path: `${prefix}/ws?jwt=${unsigned(token)}`, options: { upgrade: true }, status: 401 },
  ]
}
