import type { RandomSource } from '../random.ts';
import { assertInteger, CryptoInputError } from '../validate.ts';

/**
 * Gaussian integers for flooding and for the encryption proof's masks.
 *
 * `sampleRoundedGaussian`: round(σ·g) for g standard normal from the Box–Muller transform, with
 * the uniform u1 resolved at BOTH ends. Each pair takes a fixed 24 random bytes and one log, one
 * log1p, one square root, one cosine and one sine, whatever the values (constant work: both logs
 * are evaluated and one is selected arithmetically).
 *
 * - u1 = v or 1 − v (one random bit) with v ∈ (0, ½] a 128-bit fixed-point number turned into a
 *   double by Horner's rule from its lowest word: v keeps 52 significant bits at every magnitude
 *   down to 2^-130. The radius is σ·√(−2·ln v) at the tail end and σ·√(−2·log1p(−v)) at the
 *   centre end, so neither end is coarse. (The old code built u1 near 1 with absolute resolution
 *   2^-53: near the centre the radius took only the values σ·2^-26·√j, a comb of rings.)
 * - Reachable values near the centre: consecutive reachable radii are at most r·2^-52 apart
 *   (plus the smallest radius σ·2^-64.5), and the angle — 53 bits in a quadrant plus two bits for
 *   the quadrant — leaves arcs of at most r·2^-52.35. Where the flood uses it (σ_h < 2^10,
 *   r < 2^13.75) both are below 2^-38.6 of a unit: what smooths the rounding is 1, and the grid is
 *   2^38 times finer; for the proof's masks (σ ≤ 2^21) still below 2^-27.
 * - Tail: v ≥ 2^-130, so the radius is cut at σ·√(2·130·ln 2) ≈ 13.42σ: mass 2^-130 per pair.
 *
 * `sampleFloodingNoise` draws the flood z = K·h + S (Micciancio–Walter, CRYPTO 2017, §4, with a
 * spline instead of a second Gaussian as the smoother), K = 2^k a power of two:
 * - h = round(σ_h·g) from `sampleRoundedGaussian` with σ_h = σ/K ∈ [2^9, 2^10): small enough
 *   that the doubles' rounding moves a cell boundary by at most η(r) = r·2^-49.5 (the radius is
 *   within 2 ulp, φ within 2^-51.4, cos and sin within 1 ulp: V8's fdlibm functions; the quadrant
 *   rotation multiplies by 0 and ±1, exactly), and every unit cell of the pair's plane holds a
 *   probability within relative δ(r) ≤ 4·η(r) + r·2^-51.35 (angle grid) + r·2^-52 (radial grid)
 *   ≤ r·2^-47.2 of the ideal rounded Gaussian's (`BOX_MULLER_RELATIVE_ERROR`).
 * - S = u1 + u2 − u3 − u4 with u_j exactly uniform on [0, K) from the random bytes: the discrete
 *   B-spline of order 4, symmetric, exact integer arithmetic. It smooths the lattice KZ: its
 *   transform vanishes to fourth order at every multiple of 1/K, so what is left of h's lattice in
 *   z is a ripple of relative size ≤ 26·(2π·σ_h)^-4 ≤ 2^-41.9 (Poisson summation; the 26 covers
 *   Σ_{j≠0} j^-4 and the tails' growth up to 13.4σ).
 * z is therefore the rounded Gaussian K·σ_h·g (whose shift by x has KL ≤ x²/(2K²σ_h²): rounding
 * and adding independent S are maps that commute with integer shifts) up to a pointwise relative
 * error δ; parameters.ts (`samplerExcessKl`) charges that error in the KL budget as
 * E|δ|·1.8·|x|/σ + 2·E[δ²] per coefficient. σ_f² also gains (K² − 1)/3 from S and K²/12 from
 * rounding h: more noise than counted (≤ 2^-19.3 of its variance: a precision cost, nothing for security).
 *
 * Callers combine z = high·2^32 + low modulo their primes (engine.ts does it inside SEAL); both
 * parts are exact integers below 2^52.
 */
const TWO_POW_32 = 2 ** 32;
const TWO_POW_MINUS_32 = 2 ** -32;
const TWO_POW_MINUS_33 = 2 ** -33;
const TWO_POW_MINUS_53 = 2 ** -53;
const HALF_PI = Math.PI / 2;
/** Largest σ whose 13.42σ tail still fits a double's exact integers (2^52). */
export const MAX_DIRECT_SIGMA = 2 ** 48;
/** −log2 of the smallest v: u1 ≥ 2^-130, the mass a pair loses to the tail cut. */
export const BOX_MULLER_TAIL_BITS = 130;
/** δ(r)/r: the relative error of a unit cell's probability at radius r (module comment). */
export const BOX_MULLER_RELATIVE_ERROR = 2 ** -47.2;
/** Ripple of K·h + S around the rounded Gaussian, times (2π·σ_h)^4 (module comment). */
export const SPLINE_RIPPLE = 26;
/** Rotation by the quadrant q: (cos qπ/2, sin qπ/2). */
const QUADRANT_COS = new Float64Array([1, 0, -1, 0]);
const QUADRANT_SIN = new Float64Array([0, 1, 0, -1]);

/**
 * One pair from its 24 bytes (six little-endian words w0..w5): v = 0.w3w2w1w0 + 2^-129 halved,
 * i.e. ((w3·2^96 + w2·2^64 + w1·2^32 + w0 + ½)·2^-129; bit 21 of w5 picks the end (1: u1 = v,
 * the tail; 0: u1 = 1 − v, the centre), bits 22–23 the quadrant, w4 and bits 0–20 of w5 the angle
 * φ = (π/2)·(a + ½)·2^-53 in the quadrant. Exported for the tests that feed crafted bytes.
 */
export function boxMullerPair(
  words: Uint32Array,
  offset: number,
  sigma: number,
  out: Float64Array,
  at: number,
): void {
  const v =
    ((((words[offset]! + 0.5) * TWO_POW_MINUS_32 + words[offset + 1]!) * TWO_POW_MINUS_32 +
      words[offset + 2]!) *
      TWO_POW_MINUS_32 +
      words[offset + 3]!) *
    TWO_POW_MINUS_33;
  const control = words[offset + 5]!;
  const tail = (control >>> 21) & 1;
  const quadrant = (control >>> 22) & 3;
  const logU = tail * Math.log(v) + (1 - tail) * Math.log1p(-v);
  const radius = sigma * Math.sqrt(-2 * logU);
  const phi =
    HALF_PI * ((control & 0x1fffff) * TWO_POW_32 + words[offset + 4]! + 0.5) * TWO_POW_MINUS_53;
  const c = radius * Math.cos(phi);
  const s = radius * Math.sin(phi);
  const cq = QUADRANT_COS[quadrant]!;
  const sq = QUADRANT_SIN[quadrant]!;
  // Math.round(−0.4) is −0: + 0 normalises so that callers may compare with ===.
  out[at] = Math.round(c * cq - s * sq) + 0;
  if (at + 1 < out.length) out[at + 1] = Math.round(c * sq + s * cq) + 0;
}

export function sampleRoundedGaussian(
  random: RandomSource,
  sigma: number,
  out: Float64Array,
): Float64Array {
  if (!(sigma > 0 && sigma <= MAX_DIRECT_SIGMA))
    throw new CryptoInputError(`σ must be in (0, 2^48], got ${sigma}`);
  const pairs = Math.ceil(out.length / 2);
  const words = randomWords(random, 6 * pairs);
  for (let p = 0; p < pairs; p++) boxMullerPair(words, 6 * p, sigma, out, 2 * p);
  return out;
}

function randomWords(random: RandomSource, count: number): Uint32Array {
  const bytes = random(4 * count);
  if (bytes.length !== 4 * count)
    throw new CryptoInputError('random source returned too few bytes');
  return new Uint32Array(
    bytes.byteOffset % 4 === 0
      ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)
      : new Uint8Array(bytes).buffer,
  );
}

/** A flood z = radix·high + low (see the module comment). */
export interface SplitGaussian {
  readonly radix: number;
  readonly high: Float64Array;
  readonly low: Float64Array;
}

export const FLOOD_RADIX = 2 ** 32;
/** The range of flooding deviations `sampleFloodingNoise` draws: (2^37, 2^80]. */
export const MIN_FLOOD_SIGMA = 2 ** 37;
export const MAX_FLOOD_SIGMA = 2 ** 80;
/** σ_h = σ/K lies in [2^FLOOD_BASE_SIGMA_BITS, 2^(FLOOD_BASE_SIGMA_BITS + 1)). */
export const FLOOD_BASE_SIGMA_BITS = 9;
/** Bits per spline term u_j: 32 in the low word, up to 40 more for the high part. */
const SPLINE_HIGH_BITS = 40;

/**
 * The flood's lattice K = 2^k and the Gaussian h's deviation σ_h = σ/K ∈ [2^9, 2^10) for a flood
 * of deviation σ (any σ > 0; `sampleFloodingNoise` draws only σ in (2^37, 2^80]).
 */
export function floodShape(sigma: number): {
  readonly radixBits: number;
  readonly sigmaBase: number;
} {
  if (!(sigma > 0 && Number.isFinite(sigma)))
    throw new CryptoInputError(`flooding σ must be positive, got ${sigma}`);
  const radixBits = Math.floor(Math.log2(sigma)) - FLOOD_BASE_SIGMA_BITS;
  return { radixBits, sigmaBase: sigma / 2 ** radixBits };
}

export function sampleFloodingNoise(
  random: RandomSource,
  sigma: number,
  count: number,
): SplitGaussian {
  assertInteger(count, 'count', 1, 2 ** 28);
  if (!(sigma > MIN_FLOOD_SIGMA && sigma <= MAX_FLOOD_SIGMA))
    throw new CryptoInputError(`flooding σ must be in (2^37, 2^80], got 2^${Math.log2(sigma)}`);
  const { radixBits: k, sigmaBase } = floodShape(sigma);
  const h = sampleRoundedGaussian(random, sigmaBase, new Float64Array(count));
  // Per coefficient: four low words, four high words and one word of four 8-bit high extensions.
  const words = randomWords(random, 9 * count);
  const high = new Float64Array(count);
  const low = new Float64Array(count);
  if (k >= 32) {
    const hScale = 2 ** (k - 32);
    const hiShift = 2 ** -(32 + SPLINE_HIGH_BITS - k); // keeps the top k − 32 of 40 bits
    for (let i = 0; i < count; i++) {
      const w = 9 * i;
      const extra = words[w + 8]!;
      const top = (j: number) =>
        Math.floor((((extra >>> (8 * j)) & 0xff) * TWO_POW_32 + words[w + 4 + j]!) * hiShift);
      high[i] = h[i]! * hScale + top(0) + top(1) - top(2) - top(3) + 0;
      low[i] = words[w]! + words[w + 1]! - words[w + 2]! - words[w + 3]! + 0;
    }
  } else {
    const shift = 32 - k;
    const scale = 2 ** k;
    for (let i = 0; i < count; i++) {
      const w = 9 * i;
      const u = (j: number) => words[w + j]! >>> shift;
      low[i] = h[i]! * scale + u(0) + u(1) - u(2) - u(3) + 0;
    }
  }
  return { radix: FLOOD_RADIX, high, low };
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
