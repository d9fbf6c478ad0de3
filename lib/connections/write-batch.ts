import type { Socket } from 'node:net'

/**
 * Write coalescing per event-loop turn. Each write to a socket is a syscall;
 * a socket that gets several frames in one turn (a busy channel, a pong
 * behind events) would pay one per frame. The first write of a turn goes
 * straight out (a lone frame costs and waits exactly what it did); a second
 * one in the same turn corks the socket and lists it, so that the rest of
 * the turn's frames go out in one `writev`. One setImmediate per process (not
 * one per socket), in the check phase of the same loop iteration, uncorks
 * every listed socket and starts a new turn. Corking on the first write
 * instead measured about 0.6 µs more per lone frame (a buffered entry, an
 * uncork), which is most frames at moderate load.
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
/** This turn's number: a writer that wrote in it already holds it (from `batchWrites`). */
let turn = 0

/**
 * Call before each write to `socket`, with what the previous call returned
 * for it (-1 at first); keep what it returns. A first write of the turn is
 * left to go out; a later one is held until the turn's flush.
 */
export function batchWrites(socket: Socket, lastTurn: number): number {
  // Due once anything is written in a turn; on the held path too, so that a
  // turn number met again after wrapping can never leave a socket corked.
  if (!flushScheduled) {
    flushScheduled = true
    setImmediate(flushBatches)
  }
  // Held unless it is the turn's first write; corked already: by an earlier write of this turn (listed), or by whoever will uncork it.
  if (lastTurn === turn && socket.writableCorked === 0) {
    socket.cork()
    corked.push(socket)
  }
  return turn
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
  // Kept a small integer (a V8 Smi), so that the per-connection field never holds a boxed double.
  turn = (turn + 1) & 0x3fffffff
}
