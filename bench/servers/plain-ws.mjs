// The floor to beat: the contract on plain `ws`, no framework. JWT HS256
// verified before the upgrade, typing fan-out to the channel's other members
// (start announced once, stop only when typing, one sweep for expiry),
// presence to everyone else, ping/pong. Each event is serialized once and
// `ws.send` is called per recipient, as a hand-written ws server would.
// With BENCH_REDIS_URL every fan-out goes through Redis pub/sub (many instances).
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'
import { serveIpc, verifyToken } from '../lib/common.mjs'

const TYPING_TIMEOUT_MS = 10_000
const HEARTBEAT_MS = 30_000
const users = new Map() // userId -> Set<ws>
const members = new Map() // channelId -> Set<userId>
const invisibleAtStart = new Set()
const presence = new Map() // userId -> chosen presence while connected
const typing = new Map() // `${channel}:${user}` -> expiresAt
const visible = (p) => (p === 'invisible' ? 'offline' : p)

let redisPub = null
function fanOut(audience, payload) {
  // audience: { users?: string[], except?: string }
  if (redisPub) redisPub.publish('bench:fanout', JSON.stringify({ a: audience, p: payload }))
  else deliver(audience, payload)
}
function deliver(audience, payload) {
  const list = audience.users ?? users.keys()
  for (const id of list) {
    if (id === audience.except) continue
    const set = users.get(id)
    if (set) for (const ws of set) ws.send(payload)
  }
}
if (process.env.BENCH_REDIS_URL) {
  const { Redis } = await import('ioredis')
  redisPub = new Redis(process.env.BENCH_REDIS_URL)
  const sub = new Redis(process.env.BENCH_REDIS_URL)
  await sub.subscribe('bench:fanout')
  sub.on('message', (_channel, text) => {
    const { a, p } = JSON.parse(text)
    deliver(a, p)
  })
}

const send = (ws, type, data) => ws.send(JSON.stringify({ type, data }))
const error = (ws, code, message, requestType) =>
  send(ws, 'error', requestType ? { code, message, request_type: requestType } : { code, message })

function typingEvent(type, channel, user) {
  const list = members.get(channel)
  if (!list) return
  fanOut({ users: [...list], except: user }, JSON.stringify({ type, data: { channel_id: channel, user_id: user } }))
}

function onMessage(ws, raw, isBinary) {
  if (isBinary) return error(ws, 'invalid_json', 'binary frames are not accepted')
  let msg
  try {
    msg = JSON.parse(raw)
  } catch {
    return error(ws, 'invalid_json', 'the frame is not valid JSON')
  }
  const data = msg?.data
  switch (msg?.type) {
    case 'ping':
      return ws.send('{"type":"pong","data":{}}')
    case 'typing:start':
    case 'typing:stop': {
      const channel = typeof data?.channel_id === 'string' ? data.channel_id.toLowerCase() : ''
      if (!/^[0-9a-f]{24}$/.test(channel)) return error(ws, 'invalid_message', 'channel_id', msg.type)
      if (!members.get(channel)?.has(ws.userId)) return error(ws, 'forbidden', 'not a member', msg.type)
      const key = `${channel}:${ws.userId}`
      if (msg.type === 'typing:start') {
        const was = typing.has(key)
        typing.set(key, Date.now() + TYPING_TIMEOUT_MS)
        if (!was) typingEvent('typing:start', channel, ws.userId)
      } else if (typing.delete(key)) {
        typingEvent('typing:stop', channel, ws.userId)
      }
      return
    }
    case 'presence:update': {
      const p = data?.presence
      if (p !== 'online' && p !== 'idle' && p !== 'dnd' && p !== 'invisible') return error(ws, 'invalid_message', 'presence', msg.type)
      const before = presence.get(ws.userId) ?? 'offline'
      presence.set(ws.userId, p)
      fanOut({ users: [ws.userId] }, JSON.stringify({ type: 'presence:update', data: { user_id: ws.userId, presence: p } }))
      if (visible(p) !== visible(before)) {
        fanOut({ except: ws.userId }, JSON.stringify({ type: 'presence:update', data: { user_id: ws.userId, presence: visible(p) } }))
      }
      return
    }
    default:
      return error(ws, 'unknown_type', 'not a type a client may send')
  }
}

const server = createServer((req, res) => {
  res.writeHead(404).end()
})
const wss = new WebSocketServer({ noServer: true, maxPayload: 16384 })
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x')
  const verdict = url.pathname === '/ws' ? verifyToken(url.searchParams.get('token')) : { status: 404 }
  if (verdict.status !== 200) {
    socket.end(`HTTP/1.1 ${verdict.status} Refused\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":"unauthorized"}`)
    return
  }
  if ((users.get(verdict.sub)?.size ?? 0) >= 10) {
    socket.end('HTTP/1.1 429 Too Many\r\nConnection: close\r\n\r\n')
    return
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.userId = verdict.sub
    ws.alive = true
    ws.typingIn = null
    let set = users.get(ws.userId)
    const first = !set
    if (first) users.set(ws.userId, (set = new Set()))
    set.add(ws)
    if (first) {
      const p = invisibleAtStart.has(ws.userId) ? 'invisible' : 'online'
      presence.set(ws.userId, p)
      if (p !== 'invisible') fanOut({ except: ws.userId }, JSON.stringify({ type: 'presence:update', data: { user_id: ws.userId, presence: p } }))
    }
    send(ws, 'connected', { user_id: ws.userId })
    ws.on('message', (raw, isBinary) => onMessage(ws, raw, isBinary))
    ws.on('pong', () => (ws.alive = true))
    ws.on('close', () => {
      set.delete(ws)
      if (set.size > 0) return
      users.delete(ws.userId)
      const p = presence.get(ws.userId)
      presence.delete(ws.userId)
      for (const [key] of typing) {
        if (key.endsWith(ws.userId)) {
          typing.delete(key)
          typingEvent('typing:stop', key.slice(0, 24), ws.userId)
        }
      }
      if (p && p !== 'invisible') fanOut({ except: ws.userId }, JSON.stringify({ type: 'presence:update', data: { user_id: ws.userId, presence: 'offline' } }))
    })
  })
})

// One sweep: typing expiry every second, heartbeat every HEARTBEAT_MS.
let lastBeat = Date.now()
setInterval(() => {
  const now = Date.now()
  for (const [key, expiresAt] of typing) {
    if (expiresAt <= now) {
      typing.delete(key)
      typingEvent('typing:stop', key.slice(0, 24), key.slice(25))
    }
  }
  if (now - lastBeat >= HEARTBEAT_MS) {
    lastBeat = now
    for (const ws of wss.clients) {
      if (!ws.alive) ws.terminate()
      else {
        ws.alive = false
        ws.ping()
      }
    }
  }
}, 1000).unref()

serveIpc({
  seed({ channels, invisible }) {
    for (const [channel, list] of channels) members.set(channel, new Set(list))
    for (const id of invisible) invisibleAtStart.add(id)
  },
})
server.listen(0, '127.0.0.1', () => process.send({ ready: true, port: server.address().port }))
