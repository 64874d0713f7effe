import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  BOX_MULLER_TAIL_BITS,
  boxMullerPair,
  FLOOD_RADIX,
  floodShape,
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
      // The tail is cut only at ≈ 13.42σ (u1 ≥ 2^-130).
      expect(largest(samples)).toBeLessThan(13.5 * sigma + 1);
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

describe('flooding noise z = K·h + S (radix·high + low)', () => {
  it('has the requested deviation (σ = 2^75), exact parts below 2^53, and spline-smoothed residues mod K', () => {
    const sigma = 2 ** 75;
    const { radix, high, low } = sampleFloodingNoise(seededRandom(2), sigma, 200_000);
    expect(radix).toBe(FLOOD_RADIX);
    const combined = Float64Array.from(high, (h, i) => h * radix + low[i]!);
    expect(Math.abs(moments(combined).sigma / sigma - 1)).toBeLessThan(0.015);
    // Both parts are exact integers below 2^53, so residues modulo 52-bit primes are exact.
    expect(largest(high)).toBeLessThan(2 ** 53);
    expect(largest(low)).toBeLessThan(2 ** 34);
    expect([...high, ...low].every(Number.isInteger)).toBe(true);
    // K = 2^66 here: z mod 2^32 is the low word of S, uniform (the spline smooths K·Z).
    const buckets = new Array<number>(16).fill(0);
    for (const value of low) buckets[Number(BigInt(value) & 15n)]!++;
    for (const count of buckets) expect(Math.abs(count / (low.length / 16) - 1)).toBeLessThan(0.05);
  });

  it('uses σ_h = σ/K in [2^9, 2^10) with K a power of two, across the flooding range', () => {
    for (const bits of [37.5, 48, 60, 75.11, 80]) {
      const { radixBits, sigmaBase } = floodShape(2 ** bits);
      expect(Number.isInteger(radixBits)).toBe(true);
      expect(sigmaBase).toBeGreaterThanOrEqual(2 ** 9);
      expect(sigmaBase).toBeLessThan(2 ** 10);
      const { high, low } = sampleFloodingNoise(
        seededRandom(Math.round(bits * 100)),
        2 ** bits,
        2000,
      );
      const combined = Float64Array.from(high, (h, i) => h * FLOOD_RADIX + low[i]!);
      expect(Math.abs(moments(combined).sigma / 2 ** bits - 1)).toBeLessThan(0.06);
      expect(largest(high)).toBeLessThan(2 ** 53);
    }
  });
});

/** Six words for one Box–Muller pair (see `boxMullerPair`). */
const pairWords = (v: readonly number[], angle: number, tail: boolean, quadrant = 0) =>
  Uint32Array.from([
    v[0] ?? 0,
    v[1] ?? 0,
    v[2] ?? 0,
    v[3] ?? 0,
    angle >>> 0,
    (tail ? 1 << 21 : 0) | (quadrant << 22),
  ]);
const pairOf = (words: Uint32Array, sigma: number) => {
  const out = new Float64Array(2);
  boxMullerPair(words, 0, sigma, out, 0);
  return out;
};

describe('Box–Muller with u1 resolved at both ends (crafted bytes)', () => {
  it('u1 → 0 (the tail end, v = 2^-130): a finite radius of 13.42σ, the tail cut', () => {
    const sigma = 2 ** 40;
    const [x] = pairOf(pairWords([0, 0, 0, 0], 0, true), sigma);
    const expected = sigma * Math.sqrt(2 * BOX_MULLER_TAIL_BITS * Math.LN2);
    expect(Math.abs(x! / expected - 1)).toBeLessThan(1e-9);
    // The old sampler stopped at 12.1σ (106 bits): this reaches beyond.
    expect(x!).toBeGreaterThan(13.4 * sigma);
  });

  it('u1 → 1 (the centre end, v = 2^-130): radius σ·2^-64.5, the value 0 and not a comb', () => {
    const sigma = 2 ** 40;
    expect([...pairOf(pairWords([0, 0, 0, 0], 0, false), sigma)]).toEqual([0, 0]);
  });

  it('reaches every integer 1…64 near the centre at σ = 2^40 (the old sampler: nothing below 2^14)', () => {
    const sigma = 2 ** 40;
    for (let target = 1; target <= 64; target++) {
      // Centre end: r = σ·√(−2·log1p(−v)) = target ⇔ v = 1 − exp(−target²/(2σ²)) ≈ target²/(2σ²).
      const v = -Math.expm1(-(target * target) / (2 * sigma * sigma));
      const fixed = BigInt(Math.round(v * 2 ** 129 - 0.5)); // v = (fixed + ½)·2^-129
      const words = [0, 1, 2, 3].map((i) => Number((fixed >> BigInt(32 * i)) & 0xffffffffn));
      const [x, y] = pairOf(pairWords(words, 0, false), sigma);
      expect(x).toBe(target);
      expect(y).toBe(0);
    }
  });

  it('spaces reachable radii near the centre far below a unit: neighbouring v differ by r·2^-52', () => {
    const sigma = 2 ** 40;
    // v ≈ 2^-70 (radius ≈ σ·2^-34.5 ≈ 45): the next 2^20 grid steps of v move the radius by < 2^-10.
    const base = [0, 0, 0x100000, 0];
    const step = [0, 0, 0x100001, 0];
    const [a] = pairOf(pairWords(base, 0, false), sigma);
    const radius = (words: readonly number[]) => {
      const v =
        ((((words[0]! + 0.5) * 2 ** -32 + words[1]!) * 2 ** -32 + words[2]!) * 2 ** -32 +
          words[3]!) *
        2 ** -33;
      return sigma * Math.sqrt(-2 * Math.log1p(-v));
    };
    expect(a).toBe(Math.round(radius(base)));
    expect(radius(step) - radius(base)).toBeGreaterThan(0);
    expect(radius(step) - radius(base)).toBeLessThan(2 ** -10 * radius(base));
  });

  it('the two ends meet at v = ½ (u1 = ½ from either side) and quadrants rotate by 90°', () => {
    const sigma = 1000;
    const top = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];
    const [tailEnd] = pairOf(pairWords(top, 0, true), sigma);
    const [centreEnd] = pairOf(pairWords(top, 0, false), sigma);
    expect(tailEnd).toBe(centreEnd);
    expect(tailEnd).toBe(Math.round(sigma * Math.sqrt(2 * Math.LN2)));
    const rotated = [0, 1, 2, 3].map((q) => [...pairOf(pairWords(top, 0, true, q), sigma)]);
    expect(rotated).toEqual([
      [tailEnd, 0],
      [0, tailEnd],
      [-tailEnd!, 0],
      [0, -tailEnd!],
    ]);
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
