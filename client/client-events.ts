/**
 * The observable half of the client: its state, and listeners by message
 * type, for every frame and for state changes. RealtimeClient drives it.
 */
import type { ApplicationEvent } from './protocol.js'
import type { ClientState, Frame, KnownType, MessageOf, StateChange } from './options.js'
import { RealtimeError } from './options.js'
import { emit, TypedListeners, type Listener } from './listeners.js'
import type { Resume } from './resume-point.js'

export class ClientEvents<Events extends object> {
  readonly #listeners = new TypedListeners()
  readonly #messageListeners = new Set<Listener<Frame<Events>>>()
  readonly #stateListeners = new Set<Listener<StateChange>>()
  readonly #resumeListeners = new Set<Listener<Resume>>()
  #state: ClientState = 'closed'

  get state(): ClientState {
    return this.#state
  }

  /** Resolves once the state is `open`; rejects if it becomes `closed` first. */
  ready(): Promise<void> {
    if (this.#state === 'open') return Promise.resolve()
    if (this.#state === 'closed') return Promise.reject(new RealtimeError('the client is closed'))
    return new Promise((resolve, reject) => {
      const off = this.onState((change) => {
        if (change.state === 'open') {
          off()
          resolve()
        } else if (change.state === 'closed') {
          off()
          reject(new RealtimeError(change.reason?.message ?? 'closed', undefined, change.reason?.status))
        }
      })
    })
  }

  /**
   * Listens to one message type: the protocol's (typed from its schema) or an
   * application event. Returns a function that stops listening.
   */
  on<K extends KnownType<Events>>(type: K, listener: (message: MessageOf<K, Events>) => void): () => void
  on(type: string, listener: (message: ApplicationEvent) => void): () => void
  on(type: string, listener: Listener<any>): () => void {
    return this.#listeners.add(type, listener)
  }

  /** As `on`, for the next message of `type` only. */
  once<K extends KnownType<Events>>(type: K, listener: (message: MessageOf<K, Events>) => void): () => void
  once(type: string, listener: (message: ApplicationEvent) => void): () => void
  once(type: string, listener: Listener<any>): () => void {
    const off = this.on(type, (message: ApplicationEvent) => {
      off()
      listener(message)
    })
    return off
  }

  /** Stops a listener `on` added (the same as calling the function `on` returned). */
  off(type: string, listener: (message: any) => void): void {
    this.#listeners.remove(type, listener)
  }

  /** Listens to every message the server sends; narrow one with `client.is(frame, type)`. */
  onMessage(listener: (message: Frame<Events>) => void): () => void {
    this.#messageListeners.add(listener)
    return () => this.#messageListeners.delete(listener)
  }

  /** Whether a frame from `onMessage` is of `type`, narrowing it to that message's type. */
  is<K extends KnownType<Events>>(frame: Frame<Events>, type: K): frame is Frame<Events> & MessageOf<K, Events> {
    return frame.type === type
  }

  /** Listens to state changes (connecting, open, reconnecting, closed). */
  onState(listener: (change: StateChange) => void): () => void {
    this.#stateListeners.add(listener)
    return () => this.#stateListeners.delete(listener)
  }
  /**
   * Listens to what each reconnect recovered (contract section 8), told when
   * its `connected` arrives, before any replayed event: `recovered: true`,
   * every missed application event follows in order, then the live ones;
   * `recovered: false`, a gap: refetch over your API. Not told on a first
   * connect (unless it resumes from the `since` option).
   */
  onResume(listener: (resume: Resume) => void): () => void {
    this.#resumeListeners.add(listener)
    return () => this.#resumeListeners.delete(listener)
  }

  /** Tells the resume listeners. */
  protected resumed(resume: Resume): void {
    emit(this.#resumeListeners, resume)
  }

  /** Hands a frame to its type's listeners, then to every `onMessage` listener. */
  protected deliver(frame: Frame<Events>): void {
    this.#listeners.emit(frame.type, frame)
    emit(this.#messageListeners, frame)
  }

  /** Moves to `state` and tells the state listeners (`reconnecting` is told for each retry). */
  protected setState(state: ClientState, reason?: StateChange['reason'], retry?: { attempt: number; delayMs: number }): void {
    const previous = this.#state
    if (state === previous && state !== 'reconnecting') return
    this.#state = state
    emit(this.#stateListeners, { state, previous, ...(reason ? { reason } : {}), ...retry })
  }
}
