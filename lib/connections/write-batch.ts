import type { Socket } from 'node:net'

/**
 * Write coalescing per event-loop turn. Each write to a socket is a syscall;
 * a socket that gets several frames in one turn (a busy channel, a pong
 * behind events) would pay one per frame. The first write of a turn corks
 * the socket and lists it; one setImmediate per process (not one per socket)
 * uncorks every listed socket in the check phase of the same loop iteration,
 * so each goes out in one `writev` and a lone frame waits for no timer.
 *
 * Order is the stream's own: everything written to a corked socket (our
 * frames, ws's own `socket.send`, its ping, pong and close frames) is queued
 * in write order and leaves in that order. The queued bytes count in
 * `writableLength`, which ws's `bufferedAmount` reads, so the slow-consumer
 * check sees them.
 */

/**
 * A turn's output held for one socket is sent early past this many bytes (and
 * the rest of the turn batched again): the held bytes count against
 * MAX_BUFFERED_BYTES, and without a bound a burst to a client that reads
 * fine would be taken for a slow consumer, where before the kernel took it.
 */
export const FLUSH_EARLY_BYTES = 64 * 1024

/** Sockets corked in this turn, in the order they were corked; reused, never reallocated. */
const corked: Socket[] = []
let flushScheduled = false

/** Holds this turn's writes to `socket` until the turn's flush: call before writing to it. */
export function batchWrites(socket: Socket): void {
  // Corked already: by an earlier write of this turn (listed), or by whoever will uncork it.
  if (socket.writableCorked !== 0) {
    if (socket.writableLength >= FLUSH_EARLY_BYTES) {
      socket.uncork()
      socket.cork()
    }
    return
  }
  socket.cork()
  corked.push(socket)
  if (!flushScheduled) {
    flushScheduled = true
    setImmediate(flushBatches)
  }
}

/**
 * Sends what is held for `socket` now, before the turn ends: a close must
 * not wait behind the turn (a `terminate` later in the same turn would drop
 * it). Its entry in the list stays; uncorking it again is a no-op.
 */
export function flushWrites(socket: Socket): void {
  if (socket.writableCorked !== 0) socket.uncork()
}

function flushBatches(): void {
  // Index loop: a socket corked during the flush (a write from inside an
  // uncork) is appended and uncorked by this same loop.
  for (let i = 0; i < corked.length; i++) {
    const socket = corked[i]!
    // Destroyed sockets drop their queue anyway; uncork of an uncorked socket is a no-op.
    if (socket.writableCorked !== 0) socket.uncork()
  }
  corked.length = 0
  flushScheduled = false
}
