import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { addInto } from '../../crypto/prg.ts';
import {
  assertNoOverflow,
  dequantizeSum,
  maxLevel,
  maxSummands,
  QuantizationOverflowError,
  type QuantizationParams,
  quantize,
  reduceModulus,
} from '../../crypto/quantize.ts';
import { seededRandom } from '../../crypto/random.ts';

const paramsArb: fc.Arbitrary<QuantizationParams> = fc
  .record({
    clipRange: fc.double({ min: 0.01, max: 100, noNaN: true }),
    levelBits: fc.integer({ min: 4, max: 24 }),
    headroomBits: fc.integer({ min: 0, max: 8 }),
  })
  .map(({ clipRange, levelBits, headroomBits }) => ({
    clipRange,
    levelBits,
    modulusBits: Math.min(32, levelBits + headroomBits),
  }));

describe('quantization', () => {
  it('maps every value onto the levels 0..L, within one level of the clipped value', () => {
    fc.assert(
      fc.property(
        paramsArb,
        fc.float32Array({ noNaN: true, noDefaultInfinity: true, maxLength: 200 }),
        fc.nat(),
        (params, values, seed) => {
          const quantized = quantize(values, params, seededRandom(seed));
          const step = (2 * params.clipRange) / maxLevel(params);
          values.forEach((value, i) => {
            expect(quantized[i]!).toBeLessThanOrEqual(maxLevel(params));
            const clipped = Math.min(params.clipRange, Math.max(-params.clipRange, value));
            expect(Math.abs(quantized[i]! * step - params.clipRange - clipped)).toBeLessThanOrEqual(
              step * (1 + 1e-9),
            );
          });
        },
      ),
    );
  });

  it('decodes a modular sum of n quantized vectors to within n levels of the true sum', () => {
    fc.assert(
      fc.property(
        paramsArb.filter((params) => maxSummands(params) >= 2),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 50 }),
        fc.nat(),
        (params, clientsWanted, dimension, seed) => {
          const clients = Math.min(clientsWanted, maxSummands(params));
          const random = seededRandom(seed);
          const sum = new Uint32Array(dimension);
          const exact = new Float64Array(dimension);
          for (let c = 0; c < clients; c++) {
            const values = Float64Array.from(
              { length: dimension },
              (_, i) => Math.sin(seed + c * 31 + i) * params.clipRange,
            );
            addInto(sum, quantize(values, params, random));
            values.forEach((value, i) => (exact[i]! += value));
          }
          const decoded = dequantizeSum(reduceModulus(sum, params.modulusBits), clients, params);
          const step = (2 * params.clipRange) / maxLevel(params);
          decoded.forEach((value, i) =>
            expect(Math.abs(value - exact[i]!)).toBeLessThanOrEqual(
              clients * step * (1 + 1e-9) + 1e-9,
            ),
          );
        },
      ),
    );
  });

  it('rounds stochastically without bias: the mean error over many draws is ≈ 0', () => {
    const params = { clipRange: 1, levelBits: 4, modulusBits: 32 };
    const value = 0.123; // sits between two of the 16 levels
    const values = new Float64Array(200_000).fill(value);
    const quantized = quantize(values, params, seededRandom(5));
    const decoded = dequantizeSum(quantized, 1, params);
    const mean = decoded.reduce((a, b) => a + b, 0) / decoded.length;
    const step = 2 / 15;
    // Standard error ≈ step/2/√N ≈ 1.5e-4: 5e-4 is > 3 standard errors; deterministic rounding would be off by ≈ 0.01.
    expect(Math.abs(mean - value)).toBeLessThan(5e-4);
    expect(Math.abs(mean - value)).toBeLessThan(step / 20);
  });

  it('refuses a round whose summed levels would wrap the modulus', () => {
    const params = { clipRange: 1, levelBits: 16, modulusBits: 20 };
    expect(maxSummands(params)).toBe(16);
    expect(() => assertNoOverflow(16, params)).not.toThrow();
    expect(() => assertNoOverflow(17, params)).toThrow(QuantizationOverflowError);
    expect(() => assertNoOverflow(17, params)).toThrow(/at most 16 clients fit/);
  });

  it('rejects NaN inputs and nonsense parameters', () => {
    const params = { clipRange: 1, levelBits: 8, modulusBits: 16 };
    expect(() => quantize(new Float32Array([0, NaN]), params, seededRandom(1))).toThrow(
      /index 1 is NaN/,
    );
    expect(() =>
      quantize(new Float32Array(1), { ...params, clipRange: 0 }, seededRandom(1)),
    ).toThrow(/clipRange/);
    expect(() =>
      quantize(new Float32Array(1), { ...params, levelBits: 17 }, seededRandom(1)),
    ).toThrow(/levelBits/);
  });

  it('refuses ±Infinity, as the CKKS path does, instead of clipping it to ±clipRange', () => {
    const params = { clipRange: 1, levelBits: 8, modulusBits: 16 };
    expect(() => quantize(new Float32Array([0, Infinity]), params, seededRandom(1))).toThrow(
      /index 1 is Infinity: updates must be finite/,
    );
    expect(() => quantize(new Float64Array([-Infinity]), params, seededRandom(1))).toThrow(
      /index 0 is -Infinity/,
    );
  });

  it('maps +clipRange to L, never L + 1 (which wraps to −clipRange at 32 bits)', () => {
    // (2c)·(L/2c) rounds to L + 4.8e-7 for this c at 32 bits; a uniform draw of 0 rounds up.
    const clipRange = 0.017051153460381142;
    const params = { clipRange, levelBits: 32, modulusBits: 32 };
    const zeros = (length: number) => new Uint8Array(length);
    const [level] = quantize(new Float64Array([clipRange]), params, zeros);
    expect(level).toBe(maxLevel(params));
  });
});
