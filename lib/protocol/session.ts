import type { WebSocket } from 'ws'
import type { ConnectedMessage, PresenceUpdateEvent } from '../../schemas/server-messages.js'
import type { ChosenPresence } from '../../schemas/common.js'
import { Connection, type ConnectionLimits } from '../connections/connection.js'
import { Closes } from '../connections/close-codes.js'
import { limitPayload } from '../connections/payload-limit.js'
import type { ConnectionRegistry } from '../connections/registry.js'
import type { AccessClaims } from '../support/tokens.js'
import { withTimeout } from '../support/timeout.js'
import { drain, receive, type ProtocolContext } from './receive.js'
import { boundedReplay, type History, type Replay } from '../history/history.js'

/** What a resume needs: the history. */
export interface Recovery {
  history: History
}

const CONNECTION = Symbol('roomler.connection')
/** A socket knows its connection, so that one set of listeners serves them all. */
type Socket = WebSocket & { [CONNECTION]?: Connection }

/** How long shutdown waits for every user's presence to be settled across instances. */
const SHUTDOWN_PRESENCE_MS = 3000
/** How long shutdown waits for the stops of its typists to be published. */
const SHUTDOWN_TYPING_MS = 2000

/**
 * The life of an admitted WebSocket: opened (registered, listened to),
 * settled (`connected` once the user's presence is known, then the frames
 * that waited), forgotten when it closes, and closed with the rest at
 * shutdown. Admission (the token, the limits) happened before the upgrade.
 */
export class Sessions {
  #shuttingDown = false
  readonly #protocol: ProtocolContext
  readonly #registry: ConnectionRegistry
  readonly #limits: ConnectionLimits
  readonly #maxPayloadBytes: number
  readonly #recovery: Recovery
  // One set of listeners for every socket (`this` is the socket), not closures
  // per connection: idle memory is per connection, and there may be many.
  readonly #onMessage: (this: Socket, data: Buffer, isBinary: boolean) => void
  readonly #onClose: (this: Socket) => void
  readonly #onError: (this: Socket, error: Error & { code?: string }) => void

  constructor(protocol: ProtocolContext, registry: ConnectionRegistry, limits: ConnectionLimits, maxPayloadBytes: number, recovery: Recovery) {
    this.#protocol = protocol
    this.#recovery = recovery
    this.#registry = registry
    this.#limits = limits
    this.#maxPayloadBytes = maxPayloadBytes
    const sessions = this
    const log = protocol.log
    this.#onMessage = function (data, isBinary) {
      receive(protocol, this[CONNECTION]!, data, isBinary)
    }
    this.#onClose = function () {
      sessions.forget(this[CONNECTION]!)
    }
    this.#onError = function (error) {
      // ws closes an oversized frame (1009) itself; its error is the only trace of why.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this[CONNECTION]!.refusedOversizedFrame()
      // A client's protocol mistake (bad UTF-8, an oversized frame) is theirs; ws closes it with the right code.
      if (!error.code?.startsWith('WS_ERR_')) log.warn({ err: error }, 'websocket error')
    }
  }

  /**
   * An upgraded socket of an admitted user: registered at once, `connected`
   * once the presence is settled. `since` (a resume, contract section 8):
   * the history is read meanwhile, and live application events are held
   * from now until the missed ones have gone out.
   */
  open(socket: Socket, claims: AccessClaims, since?: string): void {
    // Whichever WebSocket server made the socket (a host's may allow 100 MiB),
    // MAX_PAYLOAD_BYTES holds on every socket this route was handed, however
    // its URL was spelled.
    if (!limitPayload(socket, this.#maxPayloadBytes)) {
      this.#protocol.log.error('roomler-realtime: this WebSocket server offers no way to hold MAX_PAYLOAD_BYTES; connection closed')
      socket.close(Closes.INTERNAL_ERROR.code, Closes.INTERNAL_ERROR.text)
      return
    }
    const connection = new Connection(claims.sub, socket, claims.exp * 1000, this.#limits)
    socket[CONNECTION] = connection
    this.#protocol.metrics.connectionsOpened++
    // @fastify/websocket's own error listener holds the upgrade's request and
    // reply for the socket's whole life; ours needs neither.
    socket.removeAllListeners('error')
    socket.on('error', this.#onError)
    // Listeners go on before any await, or early frames would be lost; they are
    // held by the connection until `connected` has gone out.
    socket.on('message', this.#onMessage)
    socket.on('pong', onPong)
    socket.on('close', this.#onClose)
    // Registered at once, so that it counts against the per-user limit while
    // its presence settles (the registry tells presence of a first connection).
    let replay: Promise<Replay> | undefined
    if (since !== undefined) {
      connection.holdForResume()
      replay = boundedReplay(this.#recovery.history, since, connection.userId, () => !connection.closed)
    }
    this.#registry.add(connection)
    const settled = this.#protocol.presence.settled(connection.userId)
    void (replay ? Promise.all([settled, replay]).then(([, r]) => r) : settled.then(() => undefined)).then((r) => this.#settled(connection, since, r))
  }

  /**
   * The presence is settled (or the wait for it is over): `connected` goes
   * out first (with the history's end, or on a resume whether it recovered),
   * then the user's own real presence (contract section 2; when it is not
   * read yet, it comes once it is), then on a resume the missed application
   * events and the live ones held meanwhile, then the frames that waited.
   */
  #settled(connection: Connection, since: string | undefined, replay: Replay | undefined): void {
    if (connection.closed) return
    const end = this.#recovery.history.end()
    const connected: ConnectedMessage = replay?.recovered
      ? { type: 'connected', data: { user_id: connection.userId, offset: since!, recovered: true } }
      : replay
        ? { type: 'connected', data: { user_id: connection.userId, offset: end, recovered: false } }
        : { type: 'connected', data: { user_id: connection.userId, offset: end } }
    connection.markOpen(JSON.stringify(connected))
    const metrics = this.#protocol.metrics
    metrics.messagesOut.add('connected')
    if (replay) {
      metrics.resumes.add(replay.recovered ? 'recovered' : 'not_recovered')
      if (replay.recovered) metrics.replayedEvents += replay.frames.length
    }
    void this.#protocol.presence.ownPresence(connection.userId).then((own) => {
      if (own !== undefined && connection.send(ownPresenceEvent(connection.userId, own))) {
        this.#protocol.metrics.messagesOut.add('presence:update')
      }
      // Live application events were held until now. Not recovered: the
      // client refetches and goes on from the end (what was held is older).
      if (replay) connection.resumed(replay.recovered ? replay.frames : [], replay.recovered ? replay.upTo : end)
      drain(this.#protocol, connection)
    })
  }

  /** A connection is gone: out of the registry (and so of presence), its presence subscriptions and typing ended. */
  forget(connection: Connection): void {
    if (!connection.release()) return
    this.#protocol.metrics.closes.add(connection.closeReason)
    this.#registry.remove(connection)
    this.#protocol.subscriptions.forget(connection)
    if (!this.#shuttingDown) this.#protocol.typing.connectionClosed(connection)
  }

  /**
   * Shutdown closes every connection with 1001 and records everyone offline in
   * one pass: announcing each departure to everyone else would cost N² sends.
   */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true
    // The other members (on other instances too) hear the stops before the connections go.
    await withTimeout(this.#protocol.typing.endAllOwned(), SHUTDOWN_TYPING_MS).catch(() => {
      this.#protocol.log.warn('not every typing:stop could be announced before shutdown')
    })
    const offline = this.#protocol.presence.allOffline()
    for (const connection of [...this.#registry.connections()]) {
      connection.close('GOING_AWAY')
      this.forget(connection)
    }
    await withTimeout(offline, SHUTDOWN_PRESENCE_MS).catch(() => {
      this.#protocol.log.warn('not every user could be recorded offline before shutdown')
    })
  }
}

function ownPresenceEvent(userId: string, presence: ChosenPresence): PresenceUpdateEvent {
  return { type: 'presence:update', data: { user_id: userId, presence } }
}

function onPong(this: Socket): void {
  this[CONNECTION]!.answeredPing()
}
