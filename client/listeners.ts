/** Listener sets: one failing listener never breaks the client or the others. */

export type Listener<T> = (value: T) => void

/** Calls each listener in turn; a listener's throw is rethrown on its own, after the others ran. */
export function emit<T>(listeners: ReadonlySet<Listener<T>> | undefined, value: T): void {
  if (!listeners) return
  for (const listener of [...listeners]) {
    try {
      listener(value)
    } catch (error) {
      queueMicrotask(() => {
        throw error
      })
    }
  }
}

/** Listeners by message type. */
export class TypedListeners {
  readonly #byType = new Map<string, Set<Listener<any>>>()

  add(type: string, listener: Listener<any>): () => void {
    let set = this.#byType.get(type)
    if (!set) this.#byType.set(type, (set = new Set()))
    set.add(listener)
    return () => this.remove(type, listener)
  }

  remove(type: string, listener: Listener<any>): void {
    const set = this.#byType.get(type)
    if (!set) return
    set.delete(listener)
    if (set.size === 0) this.#byType.delete(type)
  }

  emit(type: string, value: unknown): void {
    emit(this.#byType.get(type), value)
  }
}
