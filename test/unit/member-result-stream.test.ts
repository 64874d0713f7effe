import { describe, expect, it } from '@jest/globals';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { quantize } from '../../crypto/quantize.ts';
import { systemRandom } from '../../crypto/random.ts';
import { floatAggregate } from '../../sdk/aggregate-result.ts';
import {
  floatSumPieces,
  RESULT_CHUNK_BYTES,
  sumErrorBound,
} from '../../services/member/result-stream.ts';

const quantization = { clipRange: 4, levelBits: 16, modulusBits: 32 };

/** An aggregate file streamed as the coordinator does: in order, `chunkBytes` at a time. */
async function* streamed(bytes: Uint8Array, chunkBytes: number) {
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
    await Promise.resolve();
    yield { offsetWords: offset / 4, data: bytes.subarray(offset, offset + chunkBytes) };
  }
}

async function collect(
  pieces: AsyncIterable<Buffer>,
): Promise<{ sum: Float64Array; sizes: number[] }> {
  const parts: Buffer[] = [];
  for await (const piece of pieces) parts.push(Buffer.from(piece));
  const bytes = Buffer.concat(parts);
  return {
    sum: new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8),
    sizes: parts.map((part) => part.length),
  };
}

describe("the member peer's GetResult sum, converted piece by piece", () => {
  it('dequantizes a SecAgg aggregate slice by slice to the same floats as the whole, in pieces of at most 1 MiB', async () => {
    const dimension = 300_001;
    const values = Float32Array.from({ length: dimension }, (_, i) => Math.cos(i));
    const aggregate = quantize(values, quantization, systemRandom);
    const other = quantize(values, quantization, systemRandom);
    for (let i = 0; i < dimension; i++) aggregate[i] = (aggregate[i]! + other[i]!) >>> 0;
    const whole = floatAggregate(aggregate, 2, quantization);
    // 4-byte values may end a chunk anywhere: an odd chunk of words (39 996 B) is whole values.
    const { sum, sizes } = await collect(
      floatSumPieces(
        streamed(new Uint8Array(aggregate.buffer), 39_996),
        dimension,
        2,
        quantization,
      ),
    );
    expect(Array.from(sum)).toEqual(Array.from(whole.sum));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(RESULT_CHUNK_BYTES);
    expect(sumErrorBound(2, { quantization })).toBeCloseTo(whole.sumErrorBound, 15);
  });

  it('forwards a CKKS sum (float64 already) and splits a 2 MiB chunk into 1 MiB pieces', async () => {
    const sum = Float64Array.from({ length: 300_000 }, (_, i) => i / 3);
    const { sum: forwarded, sizes } = await collect(
      floatSumPieces(
        streamed(new Uint8Array(sum.buffer), 2 * RESULT_CHUNK_BYTES),
        sum.length,
        3,
        undefined,
      ),
    );
    expect(Array.from(forwarded)).toEqual(Array.from(sum));
    expect(sizes.slice(0, 2)).toEqual([RESULT_CHUNK_BYTES, RESULT_CHUNK_BYTES]);
    // The keyholders' 7σ flooding precision plus each contribution's encoding rounding (2^-92).
    expect(sumErrorBound(3, { ckks: SUM_8192, keyholderPrecision: 5e-5 })).toBe(
      5e-5 + 3 * 2 ** -SUM_8192.scaleBits,
    );
    expect(sumErrorBound(3, { ckks: SUM_8192, keyholderPrecision: 5e-5 })).toBeGreaterThan(0);
  });

  it('refuses a stream out of order, a CKKS chunk cut inside a value, or a length other than the round’s', async () => {
    async function* swapped() {
      await Promise.resolve();
      yield { offsetWords: 2, data: new Uint8Array(8) };
      yield { offsetWords: 0, data: new Uint8Array(8) };
    }
    await expect(collect(floatSumPieces(swapped(), 2, 1, undefined))).rejects.toThrow(
      'out of order or cut inside a value (offset 2 words, expected 0',
    );
    await expect(
      collect(floatSumPieces(streamed(new Uint8Array(12), 12), 2, 1, undefined)),
    ).rejects.toThrow('cut inside a value');
    // More values than the round has, or fewer: not the round's sum.
    await expect(
      collect(floatSumPieces(streamed(new Uint8Array(24), 8), 2, 1, undefined)),
    ).rejects.toThrow("runs past the round's 2 values");
    await expect(
      collect(floatSumPieces(streamed(new Uint8Array(8), 8), 2, 1, undefined)),
    ).rejects.toThrow("ended after 1 of the round's 2 values");
  });
});
