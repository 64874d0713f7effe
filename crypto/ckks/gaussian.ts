import type { RandomSource } from '../random.ts';
import { assertInteger, CryptoInputError } from '../validate.ts';

/**
 * Gaussian integers for flooding and for the encryption proof's masks.
 *
 * `sampleRoundedGaussian`: round(σ·g) for g standard normal from the Box–Muller transform. The
 * work is the same for every sample (a fixed 24 random bytes, one log, one square root, one cosine
 * and one sine per pair): no rejection loop whose length depends on the value. u1 takes 106 random
 * bits, so the tail is cut only beyond √(2·106·ln 2) ≈ 12.1σ (mass < 2^-106 per sample).
 * Rounding a Gaussian is a function that commutes with integer shifts, so by the data-processing
 * inequality the KL divergence of a shifted sample is at most that of the continuous Gaussian,
 * ‖x‖²/(2σ²) — the rule parameters.ts uses.
 *
 * Doubles hold integers exactly only below 2^53, so a flood of σ ≈ 2^75 is drawn as
 * y = K·y_high + y_low with y_low of deviation σ_low = 8K (≥ η_ε(KZ) for ε < 2^-200: it smooths
 * the coarse lattice KZ) and y_high of deviation √(σ² − σ_low²)/K; the sum is statistically a
 * discrete Gaussian of deviation σ over Z (Micciancio–Walter, CRYPTO 2017, "Gaussian sampling over
 * the integers", the convolution of §4; Peikert, CRYPTO 2010, Thm 3.1). Callers combine the two
 * parts modulo their primes (engine.ts does it inside SEAL).
 */
const TWO_POW_32 = 2 ** 32;
const TWO_POW_MINUS_53 = 2 ** -53;
/** Largest σ whose 12.2σ tail still fits a double's exact integers. */
export const MAX_DIRECT_SIGMA = 2 ** 48;

export function sampleRoundedGaussian(
  random: RandomSource,
  sigma: number,
  out: Float64Array,
): Float64Array {
  if (!(sigma > 0 && sigma <= MAX_DIRECT_SIGMA))
    throw new CryptoInputError(`σ must be in (0, 2^48], got ${sigma}`);
  const pairs = Math.ceil(out.length / 2);
  const bytes = random(24 * pairs);
  if (bytes.length !== 24 * pairs)
    throw new CryptoInputError('random source returned too few bytes');
  const words = new Uint32Array(
    bytes.byteOffset % 4 === 0
      ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)
      : new Uint8Array(bytes).buffer,
  );
  for (let p = 0; p < pairs; p++) {
    const w = 6 * p;
    // Three 53-bit integers: two make u1 ∈ (0, 1) with 106 bits, one makes the angle.
    const hi = (words[w + 1]! & 0x1fffff) * TWO_POW_32 + words[w]!;
    const lo = (words[w + 3]! & 0x1fffff) * TWO_POW_32 + words[w + 2]!;
    const angle = (words[w + 5]! & 0x1fffff) * TWO_POW_32 + words[w + 4]!;
    const u1 = (hi + (lo + 0.5) * TWO_POW_MINUS_53) * TWO_POW_MINUS_53;
    const radius = sigma * Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * angle * TWO_POW_MINUS_53;
    out[2 * p] = Math.round(radius * Math.cos(theta));
    if (2 * p + 1 < out.length) out[2 * p + 1] = Math.round(radius * Math.sin(theta));
  }
  // Math.round(−0.4) is −0: normalise so that callers may compare with ===.
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + 0;
  return out;
}

/** A flood of deviation σ in (2^37, 2^80] as y = radix·high + low (see the module comment). */
export interface SplitGaussian {
  readonly radix: number;
  readonly high: Float64Array;
  readonly low: Float64Array;
}

export const FLOOD_RADIX = 2 ** 32;
/** The range of flooding deviations `sampleFloodingNoise` draws: (2^37, 2^80]. */
export const MIN_FLOOD_SIGMA = 32 * FLOOD_RADIX;
export const MAX_FLOOD_SIGMA = MAX_DIRECT_SIGMA * FLOOD_RADIX;

export function sampleFloodingNoise(
  random: RandomSource,
  sigma: number,
  count: number,
): SplitGaussian {
  assertInteger(count, 'count', 1, 2 ** 28);
  const sigmaLow = 8 * FLOOD_RADIX;
  // σ_high ≤ MAX_DIRECT_SIGMA keeps the high part exact; σ > 4σ_low keeps the low part small.
  if (!(sigma > MIN_FLOOD_SIGMA && sigma <= MAX_FLOOD_SIGMA))
    throw new CryptoInputError(`flooding σ must be in (2^37, 2^80], got 2^${Math.log2(sigma)}`);
  const sigmaHigh = Math.sqrt(sigma * sigma - sigmaLow * sigmaLow) / FLOOD_RADIX;
  return {
    radix: FLOOD_RADIX,
    high: sampleRoundedGaussian(random, sigmaHigh, new Float64Array(count)),
    low: sampleRoundedGaussian(random, sigmaLow, new Float64Array(count)),
  };
}

/** Centred binomial with 21 coin pairs (variance 10.5, |x| ≤ 21): the encryption errors. */
export function sampleBinomial(random: RandomSource, out: Int8Array): Int8Array {
  const bytes = random(6 * out.length);
  for (let i = 0; i < out.length; i++) {
    let value = 0;
    for (let b = 0; b < 6; b++) {
      const byte = bytes[6 * i + b]!;
      // 42 coin flips: the first 21 count +1, the last 21 −1 (bits 0..41 of the 6 bytes).
      const bits = b === 5 ? byte & 0x03 : byte;
      const weight = popcount8(bits);
      const start = 8 * b;
      if (start + 8 <= 21) value += weight;
      else if (start >= 21) value -= weight;
      else {
        const split = 21 - start; // bits below `split` are +, the rest −
        value += popcount8(bits & ((1 << split) - 1)) - popcount8(bits >> split);
      }
    }
    out[i] = value;
  }
  return out;
}

/** Uniform ternary {−1, 0, 1}: the encryption randomness v. */
export function sampleTernary(random: RandomSource, out: Int8Array): Int8Array {
  let filled = 0;
  while (filled < out.length) {
    const bytes = random(out.length - filled + 16);
    for (let i = 0; i < bytes.length && filled < out.length; i++)
      if (bytes[i]! < 255) out[filled++] = (bytes[i]! % 3) - 1;
  }
  return out;
}

function popcount8(x: number): number {
  x = x - ((x >> 1) & 0x55);
  x = (x & 0x33) + ((x >> 2) & 0x33);
  return (x + (x >> 4)) & 0x0f;
}
