// What our users would pick instead: Socket.IO 4 with rooms, the same
// protocol (event name = message type, payload = data). The token is verified
// in allowRequest, before the handshake; every socket joins its user's room
// and its channels' rooms; typing goes to the channel room except the
// sender's user room, presence to everyone except the user's room.
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { serveIpc, verifyToken } from '../lib/common.mjs'

const TYPING_TIMEOUT_MS = 10_000
const members = new Map() // channelId -> Set<userId>
const channelsOf = new Map() // userId -> channelId[]
const invisibleAtStart = new Set()
const connections = new Map() // userId -> count
const presence = new Map()
const typing = new Map()
const visible = (p) => (p === 'invisible' ? 'offline' : p)

const server = createServer()
const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  maxHttpBufferSize: 16384,
  allowRequest(req, callback) {
    const token = new URL(req.url, 'http://x').searchParams.get('token')
    const verdict = verifyToken(token)
    if (verdict.status !== 200) return callback('unauthorized', false)
    if ((connections.get(verdict.sub) ?? 0) >= 10) return callback('too many connections', false)
    req.benchUser = verdict.sub
    callback(null, true)
  },
})

function typingEvent(type, channel, user) {
  io.to(`c:${channel}`).except(`u:${user}`).emit(type, { channel_id: channel, user_id: user })
}

io.on('connection', (socket) => {
  const user = socket.request.benchUser
  socket.join(`u:${user}`)
  for (const channel of channelsOf.get(user) ?? []) socket.join(`c:${channel}`)
  const count = (connections.get(user) ?? 0) + 1
  connections.set(user, count)
  if (count === 1) {
    const p = invisibleAtStart.has(user) ? 'invisible' : 'online'
    presence.set(user, p)
    if (p !== 'invisible') io.except(`u:${user}`).emit('presence:update', { user_id: user, presence: p })
  }
  socket.emit('connected', { user_id: user })

  socket.on('ping', () => socket.emit('pong', {}))
  const onTyping = (type) => (data) => {
    const channel = typeof data?.channel_id === 'string' ? data.channel_id.toLowerCase() : ''
    if (!/^[0-9a-f]{24}$/.test(channel)) return socket.emit('error', { code: 'invalid_message', message: 'channel_id', request_type: type })
    if (!members.get(channel)?.has(user)) return socket.emit('error', { code: 'forbidden', message: 'not a member', request_type: type })
    const key = `${channel}:${user}`
    if (type === 'typing:start') {
      const was = typing.has(key)
      typing.set(key, Date.now() + TYPING_TIMEOUT_MS)
      if (!was) typingEvent(type, channel, user)
    } else if (typing.delete(key)) typingEvent(type, channel, user)
  }
  socket.on('typing:start', onTyping('typing:start'))
  socket.on('typing:stop', onTyping('typing:stop'))
  socket.on('presence:update', (data) => {
    const p = data?.presence
    if (p !== 'online' && p !== 'idle' && p !== 'dnd' && p !== 'invisible') {
      return socket.emit('error', { code: 'invalid_message', message: 'presence', request_type: 'presence:update' })
    }
    const before = presence.get(user) ?? 'offline'
    presence.set(user, p)
    io.to(`u:${user}`).emit('presence:update', { user_id: user, presence: p })
    if (visible(p) !== visible(before)) io.except(`u:${user}`).emit('presence:update', { user_id: user, presence: visible(p) })
  })
  socket.on('disconnect', () => {
    const left = (connections.get(user) ?? 1) - 1
    if (left > 0) return connections.set(user, left)
    connections.delete(user)
    const p = presence.get(user)
    presence.delete(user)
    for (const channel of channelsOf.get(user) ?? []) {
      if (typing.delete(`${channel}:${user}`)) typingEvent('typing:stop', channel, user)
    }
    if (p && p !== 'invisible') io.except(`u:${user}`).emit('presence:update', { user_id: user, presence: 'offline' })
  })
})

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
    for (const [channel, list] of channels) {
      members.set(channel, new Set(list))
      for (const id of list) {
        if (!channelsOf.has(id)) channelsOf.set(id, [])
        channelsOf.get(id).push(channel)
      }
    }
    for (const id of invisible) invisibleAtStart.add(id)
  },
})
server.listen(0, '127.0.0.1', () => process.send({ ready: true, port: server.address().port }))
