import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SubmitUpdateRequest, type SubmitHeader } from '../../proto/gen/veilsum/v1/member.ts';
import { applyMask, expandMask } from '../../crypto/prg.ts';
import { decodeSubmitUpdateRequest } from '../../services/member/chunk-deserializer.ts';
import { receiveValues } from '../../services/member/submit-stream.ts';
import { countUpdateBytes } from '../../services/member/young-garbage.ts';

/**
 * The bank's peer frees the big buffers of an update as soon as it is done with them, instead of
 * leaving them to V8's next full collection (which let malloc's heap grow by 40–60 MB that the
 * peer then kept): a received message once staged and hashed, a mask's keystream chunk once
 * added, and a scavenge every 4 MiB moved.
 */
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function target(): string {
  const folder = mkdtempSync(join(tmpdir(), 'veilsum-memory-release-'));
  folders.push(folder);
  return join(folder, 'values.f32');
}

/** As grpc-js hands a message to the decoder: its own buffer, after the 5-byte gRPC frame. */
function received(piece: Uint8Array): Buffer {
  const wire = SubmitUpdateRequest.encode({
    part: { $case: 'chunk', value: Buffer.from(piece) },
  }).finish();
  const framed = Buffer.alloc(wire.length + 5);
  framed.set(wire, 5);
  return (decodeSubmitUpdateRequest(framed.subarray(5)).part as { value: Buffer }).value;
}

function stream(chunks: readonly Buffer[]): AsyncIterator<SubmitUpdateRequest> {
  let next = 0;
  return {
    next: () =>
      Promise.resolve(
        next < chunks.length
          ? { done: false, value: { part: { $case: 'chunk', value: chunks[next++]! } } }
          : { done: true, value: undefined },
      ),
  };
}

function headerOf(bytes: Uint8Array): SubmitHeader {
  return {
    target: { $case: 'modelId', value: 'fraud' },
    values: bytes.length / 4,
    sha256: createHash('sha256').update(bytes).digest(),
    tensors: [],
    idempotencyKey: '',
    trainedFrom: '',
  };
}

const sampleBytes = (bytes: number): Uint8Array =>
  new Uint8Array(Float32Array.from({ length: bytes / 4 }, (_, i) => Math.sin(i)).buffer);

describe('the peer frees what it is done with', () => {
  it('frees each received message once its chunk is staged and hashed; the file holds every value', async () => {
    const bytes = sampleBytes(3 * 256 * 1024);
    const chunks = [0, 1, 2].map((i) => received(bytes.subarray(i * 262144, (i + 1) * 262144)));
    expect(chunks.map((chunk) => chunk.byteLength)).toEqual([262144, 262144, 262144]);
    const path = target();
    await receiveValues(stream(chunks), headerOf(bytes), path);
    expect(Buffer.compare(readFileSync(path), Buffer.from(bytes))).toBe(0);
    // Detached: the messages' memory went back to the allocator when the stream was done with it.
    expect(chunks.map((chunk) => chunk.buffer.byteLength)).toEqual([0, 0, 0]);
  });

  it("never frees a buffer that holds more than the message (a caller's own array, a shared buffer)", async () => {
    const bytes = sampleBytes(2 * 128 * 1024);
    // Two chunks viewing one buffer, as a client-side or in-process caller may pass them.
    const shared = Buffer.alloc(bytes.length + 64);
    shared.set(bytes, 32);
    const chunks = [shared.subarray(32, 32 + 131072), shared.subarray(32 + 131072, 32 + 262144)];
    const path = target();
    await receiveValues(stream(chunks), headerOf(bytes), path);
    expect(shared.buffer.byteLength).toBe(bytes.length + 64);
    expect(
      Buffer.compare(Buffer.from(shared.subarray(32, 32 + bytes.length)), Buffer.from(bytes)),
    ).toBe(0);
  });

  it('a stream whose hash does not match is refused whatever was freed, and leaves nothing', async () => {
    const bytes = sampleBytes(256 * 1024);
    const header = { ...headerOf(bytes), sha256: Buffer.alloc(32, 1) };
    const path = target();
    await expect(receiveValues(stream([received(bytes)]), header, path)).rejects.toThrow(
      /does not match the header's/,
    );
    expect(existsSync(path)).toBe(false);
  });

  it('frees each keystream chunk of a mask as it is added: no dead chunks pile up', () => {
    const words = 1 << 21; // 8 MiB per expansion
    const accumulator = new Uint32Array(words);
    const seeds = [1, 2, 3].map((s) => new Uint8Array(32).fill(s));
    const before = process.memoryUsage().arrayBuffers;
    for (const seed of seeds) applyMask(accumulator, seed, 1);
    const grown = process.memoryUsage().arrayBuffers - before;
    // Three expansions allocate 24 MiB of keystream; left to the collector it stays until the
    // external-memory limit (64 MB) triggers a collection.
    expect(grown).toBeLessThan(1024 * 1024);
    // And the sum is the masks' sum.
    const expected = new Uint32Array(words);
    for (const seed of seeds) {
      const mask = expandMask(seed, words);
      for (let i = 0; i < words; i++) expected[i]! += mask[i]!;
    }
    expect(Buffer.from(accumulator.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
  });

  it('runs a scavenge per 4 MiB of update bytes moved, and nothing without an exposed gc', () => {
    const global = globalThis as { gc?: unknown };
    const original = global.gc;
    const calls: unknown[] = [];
    try {
      global.gc = (options: unknown) => calls.push(options);
      for (let i = 0; i < 40; i++) countUpdateBytes(1024 * 1024); // 40 MiB in 1 MiB pieces
      expect(calls).toEqual(Array.from({ length: 10 }, () => ({ type: 'minor' })));
      // No gc exposed. Assigned, not deleted: where V8 exposes gc (--expose-gc, or a suite that
      // set the flag earlier in this process) the property cannot be deleted.
      global.gc = undefined;
      expect(() => countUpdateBytes(64 * 1024 * 1024)).not.toThrow();
      expect(calls).toHaveLength(10);
    } finally {
      if (original === undefined) delete global.gc;
      else global.gc = original;
    }
  });
});
