import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type * as grpc from '@grpc/grpc-js';
import type { SubmitHeader, SubmitUpdateRequest } from '../../proto/gen/veilsum/v1/member.ts';
import { invalidArgument } from '../../sdk/common/grpc-errors.ts';

/** Largest chunk a SubmitUpdate stream may carry (the proto's contract). */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** Largest update a peer queues: 2^28 float32 values (1 GiB), far above any model it serves. */
export const MAX_VALUES = 2 ** 28;
const WRITES_IN_FLIGHT = 4;

/**
 * Reads a SubmitUpdate stream's values to `path` while checking each chunk at the edge: whole
 * float32 values, at most 4 MiB, every value finite, no more than announced; then the count and
 * the SHA-256 against the header. The file is fsynced; on any refusal it is removed, so nothing
 * of a refused stream stays on disk.
 */
export async function receiveValues(
  messages: AsyncIterator<SubmitUpdateRequest>,
  header: SubmitHeader,
  path: string,
  onBytes: (bytes: number) => void = () => {},
): Promise<void> {
  const expectedBytes = Number(header.values) * 4;
  const digest = createHash('sha256');
  const file = await open(path, 'wx', 0o600);
  let received = 0;
  let chunks = 0;
  let complete = false;
  // Writes run on libuv's pool while the next chunks are read and checked (awaiting each one
  // before reading on left the stream waiting for the disk): at most WRITES_IN_FLIGHT chunks
  // wait at once. No fsync per chunk: one before the answer.
  const writes: Promise<unknown>[] = [];
  // Grown to the largest misaligned chunk actually received, never to what the header announces
  // (a header costs the caller nothing; memory should follow the bytes it really sent).
  const scratch = { buffer: new Uint8Array(0) };
  try {
    for (;;) {
      const next = await messages.next();
      if (next.done === true) break;
      const part = next.value.part;
      if (part?.$case !== 'chunk')
        throw invalidArgument(
          'a second header arrived after the values began: send one header, then only chunks',
        );
      const chunk = part.value;
      chunks++;
      if (chunk.length > MAX_CHUNK_BYTES)
        throw invalidArgument(
          `chunk ${chunks} has ${chunk.length} bytes; chunks carry at most ${MAX_CHUNK_BYTES} bytes (4 MiB): split the values into smaller chunks`,
        );
      if (chunk.length % 4 !== 0)
        throw invalidArgument(
          `chunk ${chunks} has ${chunk.length} bytes, not a whole number of float32 values (4 bytes each): split the stream on value boundaries`,
        );
      if (received + chunk.length > expectedBytes)
        throw invalidArgument(
          `the stream carries more than the ${header.values} values its header announced: set header.values to the update's length`,
        );
      const bad = firstNonFinite(chunk, scratch);
      if (bad >= 0) {
        const value = new DataView(chunk.buffer, chunk.byteOffset).getFloat32(bad * 4, true);
        throw invalidArgument(
          `value ${received / 4 + bad} is ${Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf'}: every value must be finite (check the training step for a diverged loss)`,
        );
      }
      digest.update(chunk);
      const write = writeAll(file, chunk, received);
      // Awaited below, in order; a failure seen before then is not an unhandled rejection.
      write.catch(() => {});
      writes.push(write);
      if (writes.length >= WRITES_IN_FLIGHT) await writes.shift();
      received += chunk.length;
      onBytes(chunk.length);
    }
    if (received !== expectedBytes)
      throw invalidArgument(
        `the stream carried ${received / 4} values but the header announced ${header.values}: set header.values to the update's length`,
      );
    const computed = digest.digest();
    if (!computed.equals(Buffer.from(header.sha256)))
      throw invalidArgument(
        `the SHA-256 of the values (${computed.toString('hex')}) does not match the header's (${Buffer.from(header.sha256).toString('hex')}): hash exactly the little-endian float32 bytes sent`,
      );
    for (const write of writes.splice(0)) await write;
    // One fsync before the answer: the update is durable once the caller hears QUEUED.
    await file.sync();
    complete = true;
  } finally {
    await Promise.allSettled(writes);
    await file.close();
    if (!complete) rmSync(path, { force: true });
  }
}

/**
 * The index of the first NaN or ±Inf among a chunk's little-endian float32 values, or −1: an
 * exponent of all ones. A chunk inside a received message starts at any byte offset, so it is
 * copied into one aligned scratch buffer per stream (a memcpy, no allocation per chunk) and
 * read as 32-bit words.
 */
function firstNonFinite(chunk: Uint8Array, scratch: { buffer: Uint8Array }): number {
  let aligned = chunk;
  if (chunk.byteOffset % 4 !== 0) {
    if (scratch.buffer.length < chunk.length) scratch.buffer = new Uint8Array(chunk.length);
    aligned = scratch.buffer.subarray(0, chunk.length);
    aligned.set(chunk);
  }
  const words = new Int32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
  for (let i = 0; i < words.length; i++) if ((words[i]! & 0x7f800000) === 0x7f800000) return i;
  return -1;
}

/** The first message, which must be the header; checked field by field. */
export function checkHeader(request: SubmitUpdateRequest | undefined): SubmitHeader {
  if (request?.part?.$case !== 'header')
    throw invalidArgument(
      request === undefined
        ? 'the stream ended before its header: send a SubmitHeader (round_id or model_id, values, sha256) first'
        : 'the first message must be the header (SubmitHeader: round_id or model_id, values, sha256), not a chunk of values',
    );
  const header = request.part.value;
  if (header.target === undefined || header.target.value === '')
    throw invalidArgument(
      'the header names no target: set round_id (a round listing the bank) or model_id (its next round)',
    );
  const values = Number(header.values);
  if (!Number.isSafeInteger(values) || values < 1 || values > MAX_VALUES)
    throw invalidArgument(
      `header.values is ${header.values}; it must be the number of float32 values that follow, 1 to ${MAX_VALUES}`,
    );
  if (header.sha256.length !== 32)
    throw invalidArgument(
      `header.sha256 has ${header.sha256.length} bytes; it must be the 32-byte SHA-256 of the little-endian float32 values`,
    );
  for (const tensor of header.tensors) {
    const size = tensor.shape.reduce((product, dimension) => product * Number(dimension), 1);
    if (Number(tensor.offset) + size > values)
      throw invalidArgument(
        `tensor ${tensor.name} (offset ${tensor.offset}, shape [${tensor.shape.join(', ')}]) ends past the ${values} values: fix the tensor list`,
      );
  }
  return header;
}

export type SubmitCall = grpc.ServerReadableStream<SubmitUpdateRequest, unknown>;

/** Writes all of `bytes` at `position`: a write may write fewer bytes than asked (a full disk). */
async function writeAll(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten <= 0)
      throw new Error(`the update could not be written to disk at byte ${position + done}`);
    done += bytesWritten;
  }
}
