import type { RandomSource } from './random.ts';
import { assertFinite, assertInteger, CryptoInputError } from './validate.ts';

/**
 * Fixed-point encoding of float updates for modular summation (the recipe of Bonawitz et al.
 * §2 and Flower's SecAgg+): clip to [−clipRange, clipRange], shift and scale onto the integer
 * levels {0, …, L} with L = 2^levelBits − 1, round stochastically (unbiased: E[q] equals the
 * scaled value), and sum in Z_{2^modulusBits}. Summing n values stays exact while n·L < 2^modulusBits.
 */
export interface QuantizationParams {
  readonly clipRange: number;
  readonly levelBits: number;
  readonly modulusBits: number;
}

export class QuantizationOverflowError extends CryptoInputError {
  override name = 'QuantizationOverflowError';
}

export const maxLevel = (params: QuantizationParams): number => 2 ** params.levelBits - 1;

/** How many quantized vectors can be summed without wrapping modulo 2^modulusBits. */
export function maxSummands(params: QuantizationParams): number {
  return Math.floor((2 ** params.modulusBits - 1) / maxLevel(params));
}

export function assertQuantizationParams(params: QuantizationParams): void {
  assertFinite(params.clipRange, 'clipRange');
  if (params.clipRange <= 0)
    throw new CryptoInputError(`clipRange must be positive, got ${params.clipRange}`);
  assertInteger(params.modulusBits, 'modulusBits', 2, 32);
  assertInteger(params.levelBits, 'levelBits', 1, params.modulusBits);
}

/** Refuses a round whose n summands could overflow the modulus (checked at round set-up). */
export function assertNoOverflow(summands: number, params: QuantizationParams): void {
  assertQuantizationParams(params);
  assertInteger(summands, 'number of summands', 1);
  const limit = maxSummands(params);
  if (summands > limit) {
    throw new QuantizationOverflowError(
      `${summands} clients × ${maxLevel(params)} levels exceeds the modulus 2^${params.modulusBits}: ` +
        `at most ${limit} clients fit; lower levelBits or raise modulusBits`,
    );
  }
}

/**
 * `out` (default: a new vector) receives the levels: a caller quantizing a long update in slices
 * passes its slice of the result, so no per-slice vector is allocated and copied.
 */
export function quantize(
  values: Float32Array | Float64Array,
  params: QuantizationParams,
  random: RandomSource,
  out: Uint32Array = new Uint32Array(values.length),
): Uint32Array {
  assertQuantizationParams(params);
  if (out.length !== values.length)
    throw new CryptoInputError(
      `output length ${out.length} does not match the ${values.length} values quantized`,
    );
  const { clipRange } = params;
  const scale = maxLevel(params) / (2 * clipRange);
  const noise = random(values.length * 4);
  const aligned = noise.byteOffset % 4 === 0 ? noise : noise.slice();
  const uniforms = new Uint32Array(aligned.buffer, aligned.byteOffset, values.length);
  const top = maxLevel(params);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    // NaN and ±Infinity are refused, not clipped (as the CKKS path does): an infinite weight
    // means training diverged, and clipping it would hide that behind a plausible ±clipRange.
    if (!Number.isFinite(value)) {
      throw new CryptoInputError(
        `value at index ${i} is ${value}: updates must be finite (training diverged?)`,
      );
    }
    const clipped = value > clipRange ? clipRange : value < -clipRange ? -clipRange : value;
    const scaled = (clipped + clipRange) * scale;
    const floor = Math.floor(scaled);
    // Round up with probability equal to the fractional part. At +clipRange, (2c)·(L/2c) may
    // round to just above L: without the cap the level would be L + 1, which a 32-bit modulus
    // wraps to −clipRange.
    const level = floor + (uniforms[i]! < (scaled - floor) * 4294967296 ? 1 : 0);
    out[i] = level > top ? top : level;
  }
  return out;
}

/**
 * Decodes a modular sum of `summands` quantized vectors back to floats:
 * Σx ≈ q·(2c/L) − summands·c, after reducing q modulo 2^modulusBits.
 */
export function dequantizeSum(
  sum: Uint32Array,
  summands: number,
  params: QuantizationParams,
): Float64Array {
  assertNoOverflow(Math.max(summands, 1), params);
  const modulusMask = params.modulusBits === 32 ? 0xffffffff : 2 ** params.modulusBits - 1;
  const step = (2 * params.clipRange) / maxLevel(params);
  const offset = summands * params.clipRange;
  const out = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = ((sum[i]! & modulusMask) >>> 0) * step - offset;
  return out;
}

/** Reduces a Z_{2^32} vector into Z_{2^modulusBits} in place. */
export function reduceModulus(vector: Uint32Array, modulusBits: number): Uint32Array {
  assertInteger(modulusBits, 'modulusBits', 1, 32);
  if (modulusBits === 32) return vector;
  const mask = 2 ** modulusBits - 1;
  for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! & mask;
  return vector;
}
