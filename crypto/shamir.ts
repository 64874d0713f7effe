import {
  bigIntToBytes,
  bytesToBigInt,
  Fp,
  FIELD_ELEMENT_BYTES,
  fieldElementToBytes,
} from './field.ts';
import type { RandomSource } from './random.ts';
import { assertBytes, assertInteger, CryptoInputError } from './validate.ts';

/**
 * Shamir secret sharing (Shamir 1979) of 32-byte secrets over GF(2^256 + 297).
 * A share is the evaluation f(x) of a random polynomial of degree threshold−1 with f(0) = secret.
 * x is a participant index in [1, 65535]; x = 0 would be the secret itself.
 */
export interface Share {
  readonly x: number;
  readonly y: bigint;
}

export const SECRET_BYTES = 32;
export const SHARE_BYTES = 2 + FIELD_ELEMENT_BYTES;
export const MAX_SHARE_INDEX = 0xffff;

export class InconsistentSharesError extends Error {
  override name = 'InconsistentSharesError';
  /** x of each share that disagrees with the polynomial through the first `threshold` shares. */
  readonly disagreeingIndices: readonly number[];
  constructor(message: string, disagreeingIndices: readonly number[]) {
    super(message);
    this.disagreeingIndices = disagreeingIndices;
  }
}

export function splitSecret(
  secret: Uint8Array,
  threshold: number,
  indices: readonly number[],
  random: RandomSource,
): Share[] {
  assertBytes(secret, 'secret', SECRET_BYTES);
  assertInteger(threshold, 'threshold', 1, MAX_SHARE_INDEX);
  assertDistinctIndices(indices);
  if (indices.length < threshold) {
    throw new CryptoInputError(
      `cannot split into ${indices.length} shares with threshold ${threshold}: need at least ${threshold} share holders`,
    );
  }
  // Coefficients from 48 random bytes reduced mod p: statistical distance from uniform < 2^-127.
  const coefficients: bigint[] = [bytesToBigInt(secret)];
  for (let i = 1; i < threshold; i++) coefficients.push(Fp.create(bytesToBigInt(random(48))));
  return indices.map((x) => ({ x, y: evaluate(coefficients, BigInt(x)) }));
}

/**
 * Recovers the secret from at least `threshold` shares. The first `threshold` shares define the
 * polynomial; every further share is checked against it, so a tampered share among more than
 * `threshold` is detected (InconsistentSharesError) rather than yielding a wrong secret.
 */
export function reconstructSecret(shares: readonly Share[], threshold: number): Uint8Array {
  assertInteger(threshold, 'threshold', 1, MAX_SHARE_INDEX);
  if (shares.length < threshold) {
    throw new CryptoInputError(`need ${threshold} shares to reconstruct, got ${shares.length}`);
  }
  const indices = shares.map((share) => share.x);
  assertDistinctIndices(indices);
  for (const share of shares) assertFieldElement(share.y, `share y at x=${share.x}`);

  const basis = shares.slice(0, threshold);
  const basisIndices = indices.slice(0, threshold);
  const disagreeing: number[] = [];
  for (const extra of shares.slice(threshold)) {
    const coefficients = lagrangeCoefficients(basisIndices, extra.x);
    if (combine(coefficients, basis) !== extra.y) disagreeing.push(extra.x);
  }
  if (disagreeing.length > 0) {
    throw new InconsistentSharesError(
      `shares at x=${disagreeing.join(',')} disagree with the polynomial through x=${basisIndices.join(',')}: at least one share was altered`,
      disagreeing,
    );
  }
  const secret = combine(lagrangeCoefficients(basisIndices, 0), basis);
  if (secret >= 2n ** 256n) {
    throw new InconsistentSharesError(
      'reconstructed value is not a 32-byte secret: at least one share was altered',
      [],
    );
  }
  return bigIntToBytes(secret, SECRET_BYTES);
}

/**
 * Reconstruction from exactly `coefficients.length` shares with precomputed Lagrange
 * coefficients (see `lagrangeCoefficients`). No consistency check: callers that use this fast
 * path verify the result against a commitment and fall back to `reconstructSecret`.
 */
export function reconstructWithCoefficients(
  coefficients: readonly bigint[],
  shares: readonly Share[],
): bigint {
  return combine(coefficients, shares);
}

/**
 * λ_j(at) = Π_{m≠j} (at − x_m) / (x_j − x_m): the weights that interpolate the polynomial
 * through points with abscissae `indices` (distinct) at the point `at`.
 */
export function lagrangeCoefficients(indices: readonly number[], at: number): bigint[] {
  return lagrangeCoefficientsBatch([indices], at)[0]!;
}

/**
 * lagrangeCoefficients for several index sets (a coordinator's reconstructions, one per member)
 * with a single field inversion between them.
 *
 * λ_j = N / D_j with N = Π_m (at − x_m) and D_j = (at − x_j) · Π_{m≠j} (x_j − x_m): each weight
 * costs one product of t small integers (|x| < 2^16: formed exactly, in doubles while they stay
 * below 2^53, then in BigInt) and one reduction, and every denominator of every set shares one
 * inversion (Montgomery's trick: three multiplications each instead of an inversion per set).
 * Where `at` is one of a set's indices, λ is 1 there and 0 elsewhere.
 */
export function lagrangeCoefficientsBatch(
  indexSets: readonly (readonly number[])[],
  at: number,
): bigint[][] {
  const p = Fp.ORDER;
  const results: bigint[][] = [];
  // Every denominator (D mod p), in order, and the running product before it.
  const denominators: bigint[] = [];
  const prefix: bigint[] = [];
  const numerators: bigint[] = [];
  const interpolated: boolean[] = [];
  let running = 1n;
  for (const indices of indexSets) {
    assertDistinctForInterpolation(indices);
    const atIndex = indices.indexOf(at);
    interpolated.push(atIndex < 0);
    if (atIndex >= 0) {
      results.push(indices.map((_, j) => (j === atIndex ? 1n : 0n)));
      continue;
    }
    results.push(new Array<bigint>(indices.length));
    const numerator = new ExactProduct();
    for (const xm of indices) numerator.multiply(at - xm);
    numerators.push(modP(numerator.value(), p));
    for (let j = 0; j < indices.length; j++) {
      const xj = indices[j]!;
      // ExactProduct inlined (the t² factors are most of the work): doubles below 2^53, then BigInt.
      let big = 1n;
      let small = at - xj;
      for (let m = 0; m < indices.length; m++) {
        if (m === j) continue;
        const factor = xj - indices[m]!;
        const next = small * factor;
        if (next >= SAFE_PRODUCT || next <= -SAFE_PRODUCT) {
          big *= BigInt(small);
          small = factor;
        } else small = next;
      }
      // Non-zero mod p: a product of non-zero integers below p in absolute value, p prime.
      const reduced = modP(big * BigInt(small), p);
      denominators.push(reduced);
      prefix.push(running);
      running = (running * reduced) % p;
    }
  }
  // inverse = (product of every denominator up to the current one)^{-1}, walked down.
  let inverse = Fp.inv(running);
  let k = denominators.length;
  let n = numerators.length;
  for (let set = indexSets.length - 1; set >= 0; set--) {
    const indices = indexSets[set]!;
    if (!interpolated[set]) continue;
    const numerator = numerators[--n]!;
    const coefficients = results[set]!;
    for (let j = indices.length - 1; j >= 0; j--) {
      k--;
      coefficients[j] = (numerator * ((inverse * prefix[k]!) % p)) % p;
      inverse = (inverse * denominators[k]!) % p;
    }
  }
  return results;
}

function assertDistinctForInterpolation(indices: readonly number[]): void {
  const seen = new Set<number>();
  for (const x of indices) {
    if (seen.has(x))
      throw new CryptoInputError(`share index ${x} appears twice: no polynomial interpolates it`);
    seen.add(x);
  }
}

const SAFE_PRODUCT = 2 ** 53;

/** value mod p in [0, p). */
const modP = (value: bigint, p: bigint): bigint => {
  const result = value % p;
  return result < 0n ? result + p : result;
};

/** Product of small integers: accumulates in a double until the next factor could overflow 2^53. */
class ExactProduct {
  private big = 1n;
  private small = 1;
  multiply(factor: number): void {
    if (Math.abs(this.small * factor) >= 2 ** 53) {
      this.big *= BigInt(this.small);
      this.small = factor;
    } else {
      this.small *= factor;
    }
  }
  value(): bigint {
    return this.big * BigInt(this.small);
  }
}

export function encodeShare(share: Share): Uint8Array {
  const out = new Uint8Array(SHARE_BYTES);
  out[0] = share.x >>> 8;
  out[1] = share.x & 0xff;
  out.set(fieldElementToBytes(share.y), 2);
  return out;
}

/**
 * Checks an encoded share without building its BigInt (x ≠ 0, y < p, read off the bytes) and
 * returns x. Lets a receiver validate every share on arrival but decode only those it uses.
 */
export function checkEncodedShare(bytes: Uint8Array): number {
  assertBytes(bytes, 'encoded share', SHARE_BYTES);
  const x = (bytes[0]! << 8) | bytes[1]!;
  if (x === 0)
    throw new CryptoInputError('encoded share has index 0, which is reserved for the secret');
  // p = 2^256 + 297: y < p iff its top byte is 0, or it is 1 followed by 30 zero bytes and < 297.
  const top = bytes[2]!;
  let belowPrime = top === 0;
  if (top === 1) {
    belowPrime =
      bytes.subarray(3, 33).every((byte) => byte === 0) && ((bytes[33]! << 8) | bytes[34]!) < 297;
  }
  if (!belowPrime)
    throw new CryptoInputError(`share y at x=${x} is not an element of the Shamir field`);
  return x;
}

export function decodeShare(bytes: Uint8Array): Share {
  assertBytes(bytes, 'encoded share', SHARE_BYTES);
  const x = (bytes[0]! << 8) | bytes[1]!;
  const y = bytesToBigInt(bytes.subarray(2));
  if (x === 0)
    throw new CryptoInputError('encoded share has index 0, which is reserved for the secret');
  assertFieldElement(y, `share y at x=${x}`);
  return { x, y };
}

/** Horner steps between reductions: each grows the value by ≤ 17 bits (x < 2^16, plus the add). */
const STEPS_PER_REDUCTION = 8;

function evaluate(coefficients: readonly bigint[], x: bigint): bigint {
  // Horner's rule, highest degree first. x is a share index (< 2^16), so the running value grows
  // by at most 17 bits a step: it is reduced mod p once every few steps instead of twice a step
  // (the reductions were most of a member's Shamir splitting time).
  const p = Fp.ORDER;
  let result = 0n;
  for (let i = coefficients.length - 1, step = 1; i >= 0; i--, step++) {
    result = result * x + coefficients[i]!;
    if (step % STEPS_PER_REDUCTION === 0) result %= p;
  }
  return result % p;
}

function combine(coefficients: readonly bigint[], shares: readonly Share[]): bigint {
  // Σ λ_j · y_j summed unreduced (t terms below p² each) and reduced once: the same element.
  let sum = 0n;
  for (let j = 0; j < coefficients.length; j++) sum += coefficients[j]! * shares[j]!.y;
  return modP(sum, Fp.ORDER);
}

function assertDistinctIndices(indices: readonly number[]): void {
  const seen = new Set<number>();
  for (const x of indices) {
    assertInteger(x, 'share index', 1, MAX_SHARE_INDEX);
    if (seen.has(x)) throw new CryptoInputError(`share index ${x} appears twice`);
    seen.add(x);
  }
}

function assertFieldElement(value: bigint, name: string): void {
  if (typeof value !== 'bigint' || value < 0n || value >= Fp.ORDER) {
    throw new CryptoInputError(`${name} is not an element of the Shamir field`);
  }
}

/**
 * Berlekamp–Welch decoding: the polynomial of degree < `threshold` that agrees with all but at
 * most ⌊(m − threshold)/2⌋ of the m shares, its secret f(0), and the indices of the shares that
 * disagree with it — or undefined when no such polynomial exists (too many wrong shares). Used
 * only when shares a dealer is committed to disagree: the dealer dealt some off its polynomial.
 * O(m³) field operations (a few hundred milliseconds at m = 80): a dispute path, never the
 * fast path.
 */
export function decodeWithErrors(
  shares: readonly Share[],
  threshold: number,
): { secret: bigint; disagreeing: number[] } | undefined {
  const m = shares.length;
  if (m < threshold) return undefined;
  const errors = Math.floor((m - threshold) / 2);
  const columns = 2 * errors + threshold; // q_0..q_{k+e−1}, then e_0..e_{e−1}
  const rows = shares.map(({ x, y }) => {
    const xb = BigInt(x);
    const row: bigint[] = [];
    let power = 1n;
    const powers: bigint[] = [];
    for (let j = 0; j <= threshold + errors; j++) {
      powers.push(power);
      power = Fp.mul(power, xb);
    }
    for (let j = 0; j < threshold + errors; j++) row.push(powers[j]!);
    for (let j = 0; j < errors; j++) row.push(Fp.neg(Fp.mul(y, powers[j]!)));
    row.push(Fp.mul(y, powers[errors]!));
    return row;
  });
  const solution = solveLinear(rows, columns);
  if (solution === undefined) return undefined;
  const q = solution.slice(0, threshold + errors);
  const e = [...solution.slice(threshold + errors), 1n];
  const p = dividePolynomial(q, e);
  if (p === undefined || p.length > threshold) return undefined;
  const disagreeing = shares.filter((share) => evaluate(p, BigInt(share.x)) !== share.y);
  if (disagreeing.length > errors) return undefined;
  return { secret: p[0] ?? 0n, disagreeing: disagreeing.map((share) => share.x) };
}

/** One solution of the system (each row: coefficients then right-hand side), free unknowns 0. */
function solveLinear(rows: bigint[][], columns: number): bigint[] | undefined {
  const a = rows.map((row) => [...row]);
  const pivots: number[] = [];
  let r = 0;
  for (let c = 0; c < columns && r < a.length; c++) {
    const found = a.findIndex((row, i) => i >= r && row[c] !== 0n);
    if (found < 0) continue;
    [a[r], a[found]] = [a[found]!, a[r]!];
    const inverse = Fp.inv(a[r]![c]!);
    a[r] = a[r]!.map((value) => Fp.mul(value, inverse));
    for (let i = 0; i < a.length; i++) {
      if (i === r || a[i]![c] === 0n) continue;
      const factor = a[i]![c]!;
      a[i] = a[i]!.map((value, j) => Fp.sub(value, Fp.mul(factor, a[r]![j]!)));
    }
    pivots.push(c);
    r++;
  }
  for (let i = r; i < a.length; i++) if (a[i]![columns] !== 0n) return undefined;
  const solution = new Array<bigint>(columns).fill(0n);
  pivots.forEach((c, i) => (solution[c] = a[i]![columns]!));
  return solution;
}

/** q / e for a monic e (coefficients lowest first); undefined when e does not divide q. */
function dividePolynomial(q: readonly bigint[], e: readonly bigint[]): bigint[] | undefined {
  const remainder = [...q];
  const degree = e.length - 1;
  if (remainder.length <= degree) return remainder.every((c) => c === 0n) ? [] : undefined;
  const quotient = new Array<bigint>(remainder.length - degree).fill(0n);
  for (let i = remainder.length - 1; i >= degree; i--) {
    const coefficient = remainder[i]!;
    if (coefficient === 0n) continue;
    quotient[i - degree] = coefficient;
    for (let j = 0; j <= degree; j++)
      remainder[i - degree + j] = Fp.sub(remainder[i - degree + j]!, Fp.mul(coefficient, e[j]!));
  }
  if (remainder.slice(0, degree).some((c) => c !== 0n)) return undefined;
  while (quotient.length > 0 && quotient[quotient.length - 1] === 0n) quotient.pop();
  return quotient;
}
