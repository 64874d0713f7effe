import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SubmitHeader, SubmitUpdateRequest } from '../../proto/gen/veilsum/v1/member.ts';
import { receiveValues } from '../../services/member/submit-stream.ts';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function target(): string {
  const folder = mkdtempSync(join(tmpdir(), 'veilsum-submit-stream-'));
  folders.push(folder);
  return join(folder, 'values.f32');
}

/**
 * Chunks as grpc-js hands them over: views into a received message at an odd offset (the tag and
 * length varint before the bytes), never 4-byte aligned.
 */
function misalignedChunks(bytes: Uint8Array, chunkBytes: number): SubmitUpdateRequest[] {
  const parts: SubmitUpdateRequest[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
    const piece = bytes.subarray(offset, offset + chunkBytes);
    const message = Buffer.alloc(piece.length + 10);
    message.set(piece, 10);
    parts.push({ part: { $case: 'chunk', value: message.subarray(10) } });
  }
  return parts;
}

function stream(parts: readonly SubmitUpdateRequest[]): AsyncIterator<SubmitUpdateRequest> {
  let next = 0;
  return {
    next: () =>
      Promise.resolve(
        next < parts.length
          ? { done: false, value: parts[next++]! }
          : { done: true, value: undefined },
      ),
  };
}

function headerOf(bytes: Uint8Array, values: number): SubmitHeader {
  return {
    target: { $case: 'modelId', value: 'fraud' },
    values,
    sha256: createHash('sha256').update(bytes).digest(),
    tensors: [],
    idempotencyKey: '',
    trainedFrom: '',
  };
}

describe('a SubmitUpdate stream read to disk', () => {
  it('writes every chunk at its offset although writes overlap the reading (12 chunks, 4 in flight)', async () => {
    const values = Float32Array.from({ length: 12 * 1000 + 7 }, (_, i) => Math.sin(i) * 3);
    const bytes = new Uint8Array(values.buffer);
    const path = target();
    await receiveValues(
      stream(misalignedChunks(bytes, 4000)),
      headerOf(bytes, values.length),
      path,
    );
    expect(Buffer.compare(readFileSync(path), Buffer.from(bytes))).toBe(0);
  });

  it.each([
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, '+Inf'],
    [Number.NEGATIVE_INFINITY, '-Inf'],
  ])(
    'refuses %s in a misaligned chunk, naming its index, and leaves no file',
    async (bad, name) => {
      const values = Float32Array.from({ length: 3000 }, (_, i) => i / 7);
      values[2345] = bad;
      // The largest finite float and a subnormal pass: only an all-ones exponent is refused.
      values[10] = 3.4028234663852886e38;
      values[11] = 1e-45;
      const bytes = new Uint8Array(values.buffer);
      const path = target();
      await expect(
        receiveValues(stream(misalignedChunks(bytes, 4000)), headerOf(bytes, values.length), path),
      ).rejects.toMatchObject({
        message: `value 2345 is ${name}: every value must be finite (check the training step for a diverged loss)`,
      });
      expect(existsSync(path)).toBe(false);
    },
  );

  it('stages chunks that straddle 4 MiB staging buffers and cuts the last direct block to the values', async () => {
    // 3 MiB chunks: every second one is split across two staging buffers; 12 MiB + 12 bytes.
    const values = Float32Array.from({ length: 3 * 1024 * 1024 + 3 }, (_, i) => (i % 1009) - 500);
    const bytes = new Uint8Array(values.buffer);
    const path = target();
    await receiveValues(
      stream(misalignedChunks(bytes, 3 * 1024 * 1024)),
      headerOf(bytes, values.length),
      path,
    );
    const written = readFileSync(path);
    expect(written.length).toBe(bytes.length);
    expect(Buffer.compare(written, Buffer.from(bytes))).toBe(0);
  });

  it('names the stream index of a NaN in the second staging buffer of a straddling chunk', async () => {
    const values = Float32Array.from({ length: 2 * 1024 * 1024 }, (_, i) => i / 3);
    // Chunk 2 holds values 786432…1572863; the first staging buffer ends at value 1048576.
    values[1_048_577] = Number.NaN;
    const bytes = new Uint8Array(values.buffer);
    const path = target();
    await expect(
      receiveValues(
        stream(misalignedChunks(bytes, 3 * 1024 * 1024)),
        headerOf(bytes, values.length),
        path,
      ),
    ).rejects.toMatchObject({ message: expect.stringMatching(/^value 1048577 is NaN:/) });
    expect(existsSync(path)).toBe(false);
  });

  it('refuses a stream whose bytes do not match the header digest, and leaves no file', async () => {
    const values = Float32Array.from({ length: 5000 }, (_, i) => i);
    const bytes = new Uint8Array(values.buffer);
    const header = headerOf(bytes, values.length);
    const altered = Uint8Array.from(bytes);
    altered[19_999] = altered[19_999]! ^ 1;
    const path = target();
    await expect(
      receiveValues(stream(misalignedChunks(altered, 4096)), header, path),
    ).rejects.toMatchObject({ message: expect.stringMatching(/^the SHA-256 of the values/) });
    expect(existsSync(path)).toBe(false);
  });
});
