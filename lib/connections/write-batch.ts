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
 * `writableLength`, which ws's `bufferedAmount` reads: the slow-consumer
 * check sees them, and sends them (`flushWrites`) before it judges, so that
 * only bytes the kernel refused count against the peer.
 */

/** Sockets corked in this turn, in the order they were corked; reused, never reallocated. */
const corked: Socket[] = []
let flushScheduled = false

/** Holds this turn's writes to `socket` until the turn's flush: call before writing to it. */
export function batchWrites(socket: Socket): void {
  // Corked already: by an earlier write of this turn (listed), or by whoever will uncork it.
  if (socket.writableCorked !== 0) return
  socket.cork()
  corked.push(socket)
  if (!flushScheduled) {
    flushScheduled = true
    setImmediate(flushBatches)
  }
}

/**
 * Sends what is held for `socket` now, before the turn ends: before a close
 * (a `terminate` later in the same turn would drop it) and before the
 * slow-consumer verdict. Its entry in the list stays (uncorking it again is a
 * no-op); a later write of the turn corks and lists it again.
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
