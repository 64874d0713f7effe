import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import type { SubmitHeader, SubmitUpdateRequest } from '../../proto/gen/veilsum/v1/member.ts';
import { invalidArgument } from '../../sdk/common/grpc-errors.ts';
import { releaseChunk } from './chunk-deserializer.ts';
import { StagedFile } from './staged-file.ts';
import { countUpdateBytes } from './young-garbage.ts';

/** Largest chunk a SubmitUpdate stream may carry (the proto's contract). */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** Largest update a peer queues: 2^28 float32 values (1 GiB), far above any model it serves. */
export const MAX_VALUES = 2 ** 28;

/**
 * Reads a SubmitUpdate stream's values to `path` while checking each chunk at the edge: whole
 * float32 values, at most 4 MiB, every value finite, no more than announced; then the count and
 * the SHA-256 against the header. The values are staged in aligned buffers and written from
 * there (StagedFile: O_DIRECT where the file system takes it, the writes overlapping the stream's
 * reading); the file is fsynced before this returns; on any refusal it is removed, so nothing of
 * a refused stream stays on disk. The chunks are consumed: once staged and hashed, a chunk whose
 * buffer holds nothing but its message is freed (releaseChunk) and reads as empty after.
 */
export async function receiveValues(
  messages: AsyncIterator<SubmitUpdateRequest>,
  header: SubmitHeader,
  path: string,
  onBytes: (bytes: number) => void = () => {},
): Promise<void> {
  const expectedBytes = Number(header.values) * 4;
  const digest = createHash('sha256');
  const file = await StagedFile.create(path);
  let received = 0;
  let chunks = 0;
  let complete = false;
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
      // Each value is checked in its aligned staged copy, before any of the piece is written.
      await file.append(chunk, (staged, offset) => {
        const bad = firstNonFinite(staged);
        if (bad < 0) return;
        const value = new DataView(staged.buffer, staged.byteOffset).getFloat32(bad * 4, true);
        throw invalidArgument(
          `value ${(received + offset) / 4 + bad} is ${Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf'}: every value must be finite (check the training step for a diverged loss)`,
        );
      });
      digest.update(chunk);
      received += chunk.length;
      onBytes(chunk.length);
      countUpdateBytes(chunk.length);
      // Staged and hashed: nothing reads the chunk again.
      releaseChunk(chunk);
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
    // One fsync before the answer: the update is durable once the caller hears QUEUED.
    await file.finish(received);
    complete = true;
  } finally {
    await file.close();
    if (!complete) rmSync(path, { force: true });
  }
}

/**
 * The index of the first NaN or ±Inf among little-endian float32 values (4-byte aligned: a staged
 * copy), or −1: an exponent of all ones.
 */
function firstNonFinite(aligned: Uint8Array): number {
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
