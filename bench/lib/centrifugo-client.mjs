// The generator's side of Centrifugo's JSON protocol (v6, bidirectional
// WebSocket at /connection/websocket): a connect command with the token, a
// subscribe per channel, typing events as publish commands whose data is the
// contract's message ({ type, data } with the sender's user_id in it, since the
// publication carries no sender otherwise). The server may put several
// messages in one frame, newline-separated; it pings with `{}` and wants `{}`
// back; it echoes a publication to its publisher (skipped here: only the other
// members' receipts count) and replies to each publish (ignored).

/** Sends the connect command, then one subscribe per channel; done(true) once every reply is a success. */
export function handshake(conn, token, channels, done) {
  conn.nextId = 1
  let waiting = 1 + channels.length
  conn.onReply = (reply) => {
    if (reply.error) return done(false)
    if (reply.connect) for (const channel of channels) send(conn, { subscribe: { channel } })
    if (--waiting === 0) {
      conn.onReply = null
      done(true)
    }
  }
  send(conn, { connect: { token, name: 'bench' } })
}

function send(conn, command) {
  command.id = conn.nextId++
  conn.ws.send(JSON.stringify(command))
}

/** A contract message as a publish into its channel (the frame to send). */
export function publish(conn, type, data) {
  const id = conn.nextId++
  return JSON.stringify({ id, publish: { channel: data.channel_id, data: { type, data: { ...data, user_id: conn.user } } } })
}

/** Every message of one frame: pings answered, replies to the handshake, publications to `deliver` unless they are the connection's own. */
export function onFrame(conn, text, deliver) {
  let start = 0
  while (start < text.length) {
    let end = text.indexOf('\n', start)
    if (end === -1) end = text.length
    const line = text.slice(start, end)
    start = end + 1
    if (line === '{}') {
      conn.ws.send('{}')
      continue
    }
    if (line.length === 0) continue
    const msg = JSON.parse(line)
    const pub = msg.push?.pub
    if (pub) {
      // The sender as Centrifugo authenticated it (a client-side publish carries its info).
      const sender = pub.info?.user ?? pub.data?.data?.user_id
      if (sender !== conn.user) deliver(conn, { type: pub.data?.type, data: { ...pub.data?.data, user_id: sender } })
    } else if (msg.id !== undefined) {
      if (conn.onReply) conn.onReply(msg)
      else if (msg.error) deliver(conn, { type: 'error', data: msg.error })
    } else if (msg.push?.disconnect) {
      deliver(conn, { type: 'error', data: msg.push.disconnect })
    }
  }
}
