/**
 * A young-generation collection (a scavenge) for every YOUNG_GARBAGE_BYTES of update bytes the
 * peer moves — received from a caller (SubmitUpdate) or uploaded to the coordinator (a round's
 * masked input) — when its Node exposes `gc` (`--expose-gc`, one of MEMBER_NODE_OPTIONS).
 *
 * Why: every 16 KiB of a stream reaches JavaScript as its own Buffer (one per HTTP/2 DATA frame,
 * held by grpc-js until its message is whole), and an upload's messages are copied twice per
 * MiB (serialised, then framed). Their JavaScript objects are a few hundred bytes each, so the
 * young generation fills (and is scavenged) only every few hundred MB of data, and V8 collects
 * the Buffers' memory only once the dead ones pass its 64 MB external-memory limit. That memory
 * is malloc's: the heap grew to hold 40–60 MB of dead Buffers, and what malloc keeps of it after
 * the free stays in the peer's RSS, under the round's 40 MB vector. A scavenge every 4 MiB finds
 * the Buffers of the finished messages dead and frees them, so the next ones reuse the same
 * memory. Measured with `npm run bench:member -- --client python` (docs/member-peer.md).
 */
const YOUNG_GARBAGE_BYTES = 4 * 1024 * 1024;

type Gc = (options: { type: 'minor' }) => void;

let pending = 0;

/**
 * Counts `bytes` of update data moved; runs a scavenge once YOUNG_GARBAGE_BYTES have passed since
 * the last one. Without `gc` (a peer started with its own Node options) it does nothing.
 */
export function countUpdateBytes(bytes: number): void {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (typeof gc !== 'function') return;
  pending += bytes;
  if (pending < YOUNG_GARBAGE_BYTES) return;
  pending = 0;
  gc({ type: 'minor' });
}

/**
 * Frees `buffer`'s memory now (ArrayBuffer.prototype.transfer(0) detaches it: every view of it
 * reads as empty after) instead of at V8's next collection that finds it dead. For a buffer its
 * owner is done with and no one else holds; where `transfer` is missing (Node 20) or refused (a
 * buffer Node marked non-detachable) the collector frees it as before.
 */
export function freeBuffer(buffer: ArrayBufferLike): void {
  const transferable = buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (typeof transferable.transfer !== 'function' || buffer instanceof SharedArrayBuffer) return;
  try {
    transferable.transfer(0);
  } catch {
    // Non-detachable: left to the collector.
  }
}
