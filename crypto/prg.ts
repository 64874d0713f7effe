import { createCipheriv, createSecretKey } from 'node:crypto';
import { assertBytes, assertInteger } from './validate.ts';

/**
 * Mask expansion: ChaCha20 (RFC 8439) keystream under a 32-byte seed, read as little-endian
 * 32-bit words. Each seed is a fresh HKDF output used for exactly one mask, so the all-zero
 * nonce and counter never repeat under a key. This is the protocol's hot path: it runs in
 * OpenSSL, not in JS, and ChaCha20 measured faster than AES-256-CTR on this machine.
 */
export const MASK_SEED_BYTES = 32;
export const MAX_MASK_WORDS = 2 ** 28;
const CHUNK_WORDS = 16384;
const CHUNK_BYTES = CHUNK_WORDS * 4;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const ZERO_IV = new Uint8Array(16);
let zeros: Uint8Array = new Uint8Array(0);

export function expandMask(seed: Uint8Array, words: number): Uint32Array {
  assertBytes(seed, 'mask seed', MASK_SEED_BYTES);
  assertInteger(words, 'mask length', 0, MAX_MASK_WORDS);
  const byteLength = words * 4;
  if (zeros.length < byteLength) zeros = new Uint8Array(byteLength);
  const cipher = chacha20(seed);
  const stream = cipher.update(zeros.subarray(0, byteLength));
  const mask =
    stream.byteOffset % 4 === 0
      ? new Uint32Array(stream.buffer, stream.byteOffset, words)
      : new Uint32Array(new Uint8Array(stream).buffer, 0, words);
  if (!LITTLE_ENDIAN) byteSwapWords(mask);
  return mask;
}

/**
 * accumulator += sign · PRG(seed), elementwise mod 2^32. The keystream is produced and consumed
 * in 64 KiB chunks: each chunk is added while it is still in cache, and chunk buffers come from
 * the allocator's free lists instead of fresh page-faulted mappings (a full-length keystream
 * buffer per mask measured up to 2× slower once the process had run for a while).
 */
export function applyMask(accumulator: Uint32Array, seed: Uint8Array, sign: 1 | -1): void {
  assertBytes(seed, 'mask seed', MASK_SEED_BYTES);
  if (zeros.length < CHUNK_BYTES) zeros = new Uint8Array(CHUNK_BYTES);
  const cipher = chacha20(seed);
  for (let offset = 0; offset < accumulator.length; offset += CHUNK_WORDS) {
    const words = Math.min(CHUNK_WORDS, accumulator.length - offset);
    const stream = cipher.update(zeros.subarray(0, words * 4));
    const mask =
      stream.byteOffset % 4 === 0
        ? new Uint32Array(stream.buffer, stream.byteOffset, words)
        : new Uint32Array(new Uint8Array(stream).buffer, 0, words);
    if (!LITTLE_ENDIAN) byteSwapWords(mask);
    if (sign === 1) for (let i = 0; i < words; i++) accumulator[offset + i]! += mask[i]!;
    else for (let i = 0; i < words; i++) accumulator[offset + i]! -= mask[i]!;
    release(mask);
  }
}

/**
 * Frees a consumed keystream chunk now (ArrayBuffer.prototype.transfer(0) detaches it and drops
 * its memory) instead of at the next garbage collection. The chunks are external memory V8
 * collects only once their total passes its external-memory limit, and during a synchronous
 * expansion it cannot run its incremental marking: 3 expansions of a 10^7-word mask piled up
 * 65 MB of dead chunks (RSS +72 MB over the vector itself; +13 MB when each is freed). Only a
 * buffer that holds exactly this chunk is detached (never a pooled or shared one); where
 * `transfer` is missing (Node 20) or refused the chunk is left to the collector.
 */
function release(chunk: Uint32Array): void {
  const buffer = chunk.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (
    typeof buffer.transfer !== 'function' ||
    chunk.byteOffset !== 0 ||
    buffer.byteLength !== chunk.byteLength ||
    buffer instanceof SharedArrayBuffer
  )
    return;
  try {
    buffer.transfer(0);
  } catch {
    // A non-detachable buffer: the collector frees it.
  }
}

/**
 * The keystream cipher under a seed. The key goes in as a KeyObject: given raw bytes, Node 24's
 * createCipheriv first asks whether they are a KeyObject or a CryptoKey by catching two thrown
 * errors (stack traces included), ~12 µs per call — more than a 64 KiB chunk of keystream —
 * where createSecretKey takes the bytes directly.
 */
function chacha20(seed: Uint8Array) {
  return createCipheriv('chacha20', createSecretKey(seed), ZERO_IV);
}

/** accumulator += vector mod 2^32 (Uint32Array stores wrap). */
export function addInto(accumulator: Uint32Array, vector: Uint32Array): void {
  assertSameLength(accumulator, vector);
  for (let i = 0; i < accumulator.length; i++) accumulator[i]! += vector[i]!;
}

/** accumulator −= vector mod 2^32. */
export function subtractInto(accumulator: Uint32Array, vector: Uint32Array): void {
  assertSameLength(accumulator, vector);
  for (let i = 0; i < accumulator.length; i++) accumulator[i]! -= vector[i]!;
}

function assertSameLength(a: Uint32Array, b: Uint32Array): void {
  if (a.length !== b.length) {
    throw new RangeError(`vector length ${b.length} does not match accumulator length ${a.length}`);
  }
}

function byteSwapWords(words: Uint32Array): void {
  const view = new DataView(words.buffer, words.byteOffset, words.byteLength);
  for (let i = 0; i < words.length; i++) view.setUint32(i * 4, view.getUint32(i * 4, true), false);
}
