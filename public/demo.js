// The demo page: the typed client (compiled from client/index.ts) against this server.
import { RealtimeClient } from '/client/index.js'

const $ = (selector) => document.querySelector(selector)
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
const LABEL = { online: 'online', idle: 'idle', dnd: 'do not disturb', invisible: 'invisible (others see offline)', offline: 'offline' }

/** The demo channel and its users, with a token each: only served in demo mode. */
async function loadDemo() {
  const response = await fetch('/demo/users', { cache: 'no-store' })
  if (!response.ok) throw new Error(`GET /demo/users answered ${response.status}`)
  return response.json()
}

const demo = await loadDemo()
const nameOf = (id) => demo.users.find((user) => user.id === id)?.username ?? id.slice(-6)

let session = null

function log(text) {
  const item = document.createElement('li')
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`
  $('#log').prepend(item)
  while ($('#log').children.length > 50) $('#log').lastChild.remove()
}

function renderState(state, detail) {
  const element = $('[data-testid=state]')
  element.dataset.state = state
  element.textContent = detail ? `${state} (${detail})` : state
}

function renderMembers() {
  const list = $('#members')
  list.replaceChildren(
    ...demo.users.map((user) => {
      const presence = session.presence.get(user.id) ?? 'offline'
      const item = document.createElement('li')
      item.dataset.member = user.username
      item.dataset.presence = presence
      item.textContent = `${user.username}${user.id === session.user.id ? ' (you)' : ''}: ${LABEL[presence] ?? presence}`
      return item
    }),
  )
  const own = session.presence.get(session.user.id)
  for (const button of document.querySelectorAll('[data-set-presence]')) {
    button.setAttribute('aria-pressed', String(button.dataset.setPresence === own))
  }
}

function renderTyping() {
  const names = [...session.typing].map(nameOf)
  const line = $('[data-testid=typing]')
  line.replaceChildren()
  if (names.length === 0) return
  names.forEach((name, i) => {
    if (i > 0) line.append(i === names.length - 1 ? ' and ' : ', ')
    const span = document.createElement('span')
    span.dataset.typing = name
    span.textContent = name
    line.append(span)
  })
  line.append(names.length === 1 ? ' is typing…' : ' are typing…')
}

/** GET /presence for every demo user; an update that arrived meanwhile is newer and kept. */
async function loadPresence() {
  const updatedSince = new Set()
  session.updatedSince = updatedSince
  const presences = await session.client.getPresence(demo.users.map((user) => user.id))
  for (const [id, presence] of Object.entries(presences)) if (!updatedSince.has(id)) session.presence.set(id, presence)
  renderMembers()
}

function signIn(user) {
  const client = new RealtimeClient({
    url: wsUrl,
    token: user.token,
    // The demo tokens last 12 hours; a new one comes from the same demo endpoint.
    getToken: async () => (await loadDemo()).users.find((u) => u.id === user.id).token,
  })
  session = { user, client, presence: new Map(), typing: new Set(), updatedSince: new Set() }
  window.demo = { client, user, channelId: demo.channel_id }

  client.onState((change) => {
    const detail = change.state === 'reconnecting' ? `retry ${change.attempt} in ${change.delayMs} ms` : change.reason?.status ? `refused: ${change.reason.status}` : ''
    renderState(change.state, detail)
    log(`state ${change.state}${change.reason ? `: ${change.reason.message}` : ''}`)
    if (change.state === 'open') loadPresence().catch((error) => log(`presence: ${error.message}`))
    if (change.state !== 'open') {
      // What we knew may be stale until the connection is back.
      session.typing.clear()
      renderTyping()
    }
  })
  client.on('presence:update', (message) => {
    session.presence.set(message.data.user_id, message.data.presence)
    session.updatedSince.add(message.data.user_id)
    renderMembers()
  })
  client.on('typing:start', (message) => {
    if (message.data.channel_id !== demo.channel_id) return
    session.typing.add(message.data.user_id)
    renderTyping()
  })
  client.on('typing:stop', (message) => {
    if (message.data.channel_id !== demo.channel_id) return
    session.typing.delete(message.data.user_id)
    renderTyping()
  })
  // Every message, user ids shown by name.
  client.onMessage((message) => log(`${message.type} ${JSON.stringify(message.data, (key, value) => (key === 'user_id' ? nameOf(value) : value))}`))

  $('[data-testid=me]').textContent = user.username
  $('#signin').hidden = true
  $('#room').hidden = false
  document.title = `${user.username} · Roomler Realtime demo`
  renderMembers()
  renderTyping()
  client.connect()
}

function signOut() {
  session?.client.close()
  session = null
  window.demo = undefined
  $('#room').hidden = true
  $('#signin').hidden = false
  $('#message').value = ''
  document.title = 'Roomler Realtime demo'
  renderState('closed', 'signed out')
}

$('#users').replaceChildren(
  ...demo.users.map((user) => {
    const button = document.createElement('button')
    button.type = 'button'
    button.dataset.user = user.username
    button.textContent = user.username
    button.addEventListener('click', () => signIn(user))
    return button
  }),
)
for (const button of document.querySelectorAll('[data-set-presence]')) {
  button.addEventListener('click', () => session?.client.setPresence(button.dataset.setPresence))
}
$('#signout').addEventListener('click', signOut)
$('#message').addEventListener('input', (event) => {
  if (!session) return
  if (event.target.value.trim()) session.client.startTyping(demo.channel_id)
  else session.client.stopTyping(demo.channel_id)
})
$('#composer').addEventListener('submit', (event) => {
  event.preventDefault()
  if (!session) return
  session.client.stopTyping(demo.channel_id)
  const text = $('#message').value.trim()
  if (text) log(`you would have sent: ${text}`)
  $('#message').value = ''
})
document.body.dataset.ready = 'true'
