import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  FLOOD_RADIX,
  sampleBinomial,
  sampleFloodingNoise,
  sampleRoundedGaussian,
  sampleTernary,
} from '../../crypto/ckks/gaussian.ts';
import { seededRandom, type RandomSource } from '../../crypto/random.ts';

const largest = (values: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(values[i]!));
  return worst;
};

const moments = (values: ArrayLike<number>) => {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    squares += values[i]! * values[i]!;
  }
  const mean = sum / values.length;
  return { mean, sigma: Math.sqrt(squares / values.length - mean * mean) };
};

/** Counts the bytes a sampler asks for. */
const counting = (random: RandomSource) => {
  let bytes = 0;
  const source: RandomSource = (length) => {
    bytes += length;
    return random(length);
  };
  return { source, bytes: () => bytes };
};

describe('rounded Gaussian sampler', () => {
  it.each([[3.2], [1024], [2 ** 17.5], [2 ** 40]])(
    'σ = %d: measured deviation within 1.5 %%, mean near 0, 3σ tail near 0.27 %%',
    (sigma) => {
      const samples = sampleRoundedGaussian(seededRandom(1), sigma, new Float64Array(200_000));
      const { mean, sigma: measured } = moments(samples);
      // Rounding adds variance 1/12.
      expect(Math.abs(measured / Math.sqrt(sigma ** 2 + 1 / 12) - 1)).toBeLessThan(0.015);
      expect(Math.abs(mean)).toBeLessThan((5 * sigma) / Math.sqrt(samples.length));
      const beyond3 = samples.filter((x) => Math.abs(x) > 3 * sigma).length / samples.length;
      expect(beyond3).toBeGreaterThan(0.0018);
      expect(beyond3).toBeLessThan(0.0037);
      // The tail is cut only at ≈ 12.1σ (106-bit u1).
      expect(largest(samples)).toBeLessThan(12.2 * sigma + 1);
      expect(samples.every(Number.isInteger)).toBe(true);
    },
  );

  it('does the same work for every sample: 24 random bytes per pair, whatever the values', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 2 ** 30 }),
        (count, seed) => {
          const { source, bytes } = counting(seededRandom(seed));
          sampleRoundedGaussian(source, 2 ** 20, new Float64Array(count));
          return bytes() === 24 * Math.ceil(count / 2);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('is a function of its random source (reproducible from a seed)', () => {
    const a = sampleRoundedGaussian(seededRandom(9), 2 ** 30, new Float64Array(1000));
    const b = sampleRoundedGaussian(seededRandom(9), 2 ** 30, new Float64Array(1000));
    expect(a).toEqual(b);
  });

  it('refuses a σ whose tail would leave the exact integers of a double', () => {
    expect(() => sampleRoundedGaussian(seededRandom(1), 2 ** 49, new Float64Array(2))).toThrow(/σ/);
  });
});

describe('flooding noise K·high + low', () => {
  it('has the requested deviation (σ = 2^75) and a low part that smooths K·Z (σ_low = 8K)', () => {
    const sigma = 2 ** 75;
    const { radix, high, low } = sampleFloodingNoise(seededRandom(2), sigma, 200_000);
    expect(radix).toBe(FLOOD_RADIX);
    const combined = Float64Array.from(high, (h, i) => h * radix + low[i]!);
    expect(Math.abs(moments(combined).sigma / sigma - 1)).toBeLessThan(0.015);
    expect(Math.abs(moments(low).sigma / (8 * radix) - 1)).toBeLessThan(0.015);
    // Both parts are exact integers below 2^52, so residues modulo 52-bit primes are exact.
    expect(largest(high)).toBeLessThan(2 ** 52);
  });
});

describe('encryption randomness', () => {
  it('centred binomial: variance 10.5, |e| ≤ 21', () => {
    const e = sampleBinomial(seededRandom(3), new Int8Array(200_000));
    const { mean, sigma } = moments(e);
    expect(Math.abs(sigma ** 2 / 10.5 - 1)).toBeLessThan(0.02);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(largest(e)).toBeLessThanOrEqual(21);
  });

  it('ternary: −1, 0, 1 each a third of the time', () => {
    const v = sampleTernary(seededRandom(4), new Int8Array(300_000));
    for (const value of [-1, 0, 1]) {
      const share = v.filter((x) => x === value).length / v.length;
      expect(Math.abs(share - 1 / 3)).toBeLessThan(0.005);
    }
  });
});
