import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { dequantizeSum } from '../../crypto/quantize.ts';
import { clippingReport } from '../../sdk/clipping-report.ts';
import { updateDigest } from '../../sdk/unmask-journal.ts';
import { digestsOfSlices, prepareSecAgg } from '../../services/member/prepared-update.ts';

const params = { clipRange: 2, levelBits: 16, modulusBits: 32 };

/** Slices as UpdateQueue.slices yields them: one reused buffer, refilled for each slice. */
function* reusedSlices(values: Float32Array, sliceValues: number): Generator<Float32Array> {
  const buffer = new Float32Array(sliceValues);
  for (let offset = 0; offset < values.length; offset += sliceValues) {
    const piece = values.subarray(offset, offset + sliceValues);
    buffer.set(piece);
    yield buffer.subarray(0, piece.length);
  }
}

describe('a queued update prepared for a SecAgg round slice by slice', () => {
  const values = Float32Array.from({ length: 10_007 }, (_, i) => Math.sin(i) * 1.5);
  values[7_001] = -5.5; // clipped, the largest, in the last slice but one
  values[42] = 2.5; // clipped

  it('gives the levels of every value, the float digest and the whole update’s clipping report', () => {
    const prepared = prepareSecAgg(reusedSlices(values, 1_000), values.length, params);
    // Each level decodes to its value within one quantisation step (values clipped to ±2).
    const decoded = dequantizeSum(prepared.levels, 1, params);
    const step = (2 * params.clipRange) / (2 ** params.levelBits - 1);
    for (let i = 0; i < values.length; i++) {
      const clipped = Math.max(-2, Math.min(2, values[i]!));
      expect(Math.abs(decoded[i]! - clipped)).toBeLessThanOrEqual(step);
    }
    // The journal's identity of the update is the floats', as the SDK's participate records it.
    expect(prepared.digest).toBe(updateDigest(values));
    expect(digestsOfSlices(reusedSlices(values, 999))).toEqual({
      digest: updateDigest(values),
      payloadSha256: createHash('sha256').update(Buffer.from(values.buffer)).digest('hex'),
    });
    expect(prepared.clipping).toEqual(clippingReport(values, params.clipRange));
    expect(prepared.clipping).toMatchObject({ clipped: 2, largestIndex: 7_001 });
  });

  it("refuses an update whose length is not the round's", () => {
    expect(() => prepareSecAgg(reusedSlices(values, 1_000), values.length + 1, params)).toThrow(
      `the queued update has ${values.length} values, the round ${values.length + 1}`,
    );
    expect(() => prepareSecAgg(reusedSlices(values, 1_000), 5_000, params)).toThrow(
      "the queued update has more than the round's 5000 values",
    );
  });
});
