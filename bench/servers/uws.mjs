// The ceiling of a Node process: the same contract as plain-ws.mjs on
// uWebSockets.js (npm `uwebsockets`, its HTTP and WebSocket core in C++), the
// same work: JWT HS256 verified in the upgrade handler, typing fan-out to the
// channel's other members (start announced once, stop only when typing, one
// sweep for expiry), presence to everyone else, ping/pong. Each event is
// serialized once (one Buffer, so uWS does not re-encode the string per
// recipient) and sent per recipient, as plain-ws does; no uWS topics, so the
// difference to plain-ws is the transport, not the fan-out.
// uwebsockets is loaded with require (NODE_PATH applies, for trying it from a scratch install).
import { createRequire } from 'node:module'
import { serveIpc, verifyToken } from '../lib/common.mjs'

const uWS = createRequire(import.meta.url)('uwebsockets')

const TYPING_TIMEOUT_MS = 10_000
const users = new Map() // userId -> Set<ws>
const members = new Map() // channelId -> Set<userId>
const invisibleAtStart = new Set()
const presence = new Map() // userId -> chosen presence while connected
const typing = new Map() // `${channel}:${user}` -> expiresAt
const visible = (p) => (p === 'invisible' ? 'offline' : p)
const decoder = new TextDecoder()

function fanOut(audience, text) {
  // audience: { users?: string[], except?: string }
  const payload = Buffer.from(text)
  const list = audience.users ?? users.keys()
  for (const id of list) {
    if (id === audience.except) continue
    const set = users.get(id)
    if (set) for (const ws of set) ws.send(payload, false)
  }
}

const send = (ws, type, data) => ws.send(JSON.stringify({ type, data }), false)
const error = (ws, code, message, requestType) =>
  send(ws, 'error', requestType ? { code, message, request_type: requestType } : { code, message })

function typingEvent(type, channel, user) {
  const list = members.get(channel)
  if (!list) return
  fanOut({ users: [...list], except: user }, JSON.stringify({ type, data: { channel_id: channel, user_id: user } }))
}

function onMessage(ws, raw, isBinary) {
  if (isBinary) return error(ws, 'invalid_json', 'binary frames are not accepted')
  const userId = ws.getUserData().userId
  let msg
  try {
    msg = JSON.parse(decoder.decode(raw))
  } catch {
    return error(ws, 'invalid_json', 'the frame is not valid JSON')
  }
  const data = msg?.data
  switch (msg?.type) {
    case 'ping':
      return ws.send('{"type":"pong","data":{}}', false)
    case 'typing:start':
    case 'typing:stop': {
      const channel = typeof data?.channel_id === 'string' ? data.channel_id.toLowerCase() : ''
      if (!/^[0-9a-f]{24}$/.test(channel)) return error(ws, 'invalid_message', 'channel_id', msg.type)
      if (!members.get(channel)?.has(userId)) return error(ws, 'forbidden', 'not a member', msg.type)
      const key = `${channel}:${userId}`
      if (msg.type === 'typing:start') {
        const was = typing.has(key)
        typing.set(key, Date.now() + TYPING_TIMEOUT_MS)
        if (!was) typingEvent('typing:start', channel, userId)
      } else if (typing.delete(key)) {
        typingEvent('typing:stop', channel, userId)
      }
      return
    }
    case 'presence:update': {
      const p = data?.presence
      if (p !== 'online' && p !== 'idle' && p !== 'dnd' && p !== 'invisible') return error(ws, 'invalid_message', 'presence', msg.type)
      const before = presence.get(userId) ?? 'offline'
      presence.set(userId, p)
      fanOut({ users: [userId] }, JSON.stringify({ type: 'presence:update', data: { user_id: userId, presence: p } }))
      if (visible(p) !== visible(before)) {
        fanOut({ except: userId }, JSON.stringify({ type: 'presence:update', data: { user_id: userId, presence: visible(p) } }))
      }
      return
    }
    default:
      return error(ws, 'unknown_type', 'not a type a client may send')
  }
}

const app = uWS.App()
app.ws('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16384,
  // uWS's own heartbeat: a ping when idle, closed when nothing came back (plain-ws: 30 s sweep).
  idleTimeout: 32,
  sendPingsAutomatically: true,
  maxBackpressure: 1024 * 1024,
  upgrade(res, req, context) {
    const verdict = verifyToken(req.getQuery('token'))
    if (verdict.status !== 200) {
      res.writeStatus(`${verdict.status} Refused`).writeHeader('Content-Type', 'application/json').end('{"error":"unauthorized"}')
      return
    }
    if ((users.get(verdict.sub)?.size ?? 0) >= 10) {
      res.writeStatus('429 Too Many').end()
      return
    }
    res.upgrade({ userId: verdict.sub }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context)
  },
  open(ws) {
    const userId = ws.getUserData().userId
    let set = users.get(userId)
    const first = !set
    if (first) users.set(userId, (set = new Set()))
    set.add(ws)
    if (first) {
      const p = invisibleAtStart.has(userId) ? 'invisible' : 'online'
      presence.set(userId, p)
      if (p !== 'invisible') fanOut({ except: userId }, JSON.stringify({ type: 'presence:update', data: { user_id: userId, presence: p } }))
    }
    send(ws, 'connected', { user_id: userId })
  },
  message: onMessage,
  close(ws) {
    // After this callback the ws may not be touched: it leaves every set first.
    const userId = ws.getUserData().userId
    const set = users.get(userId)
    set?.delete(ws)
    if (set && set.size > 0) return
    users.delete(userId)
    const p = presence.get(userId)
    presence.delete(userId)
    for (const [key] of typing) {
      if (key.endsWith(userId)) {
        typing.delete(key)
        typingEvent('typing:stop', key.slice(0, 24), userId)
      }
    }
    if (p && p !== 'invisible') fanOut({ except: userId }, JSON.stringify({ type: 'presence:update', data: { user_id: userId, presence: 'offline' } }))
  },
})
app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end()
})

// One sweep: typing expiry every second.
setInterval(() => {
  const now = Date.now()
  for (const [key, expiresAt] of typing) {
    if (expiresAt <= now) {
      typing.delete(key)
      typingEvent('typing:stop', key.slice(0, 24), key.slice(25))
    }
  }
}, 1000).unref()

serveIpc({
  seed({ channels, invisible }) {
    for (const [channel, list] of channels) members.set(channel, new Set(list))
    for (const id of invisible) invisibleAtStart.add(id)
  },
})
app.listen('127.0.0.1', 0, (listenSocket) => {
  if (!listenSocket) throw new Error('uWS could not listen')
  process.send({ ready: true, port: uWS.us_socket_local_port(listenSocket) })
})
