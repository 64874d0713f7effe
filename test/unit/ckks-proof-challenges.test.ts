import { describe, expect, it } from '@jest/globals';
import { challengeInverseNorm, PROOF } from '../../crypto/ckks/parameters.ts';

/**
 * The algebra the encryption proof's soundness rests on (encryption-proof.ts): for any two
 * distinct challenges c ≠ c′ ∈ {0} ∪ {ζ^k}, 2/(c − c′) is a polynomial of R with integer
 * coefficients, and multiplying by it stretches ℓ2 norms by at most `challengeInverseNorm`.
 * Checked in the ring of degree N = challengeOrder/2, where ζ = X^(2N/order) is X itself (every
 * monomial is a challenge); in a larger ring ζ = X^(2N/order) generates the same subring.
 */
const order = PROOF.challengeOrder;
const n = order / 2;

/** Product in Z[X]/(X^n + 1). */
function multiply(x: readonly number[], y: readonly number[]): number[] {
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const k = i + j;
      if (k < n) out[k]! += x[i]! * y[j]!;
      else out[k - n]! -= x[i]! * y[j]!;
    }
  return out;
}

/** ζ^k = X^k, with X^n = −1. */
function power(k: number): number[] {
  const out = new Array<number>(n).fill(0);
  const reduced = ((k % order) + order) % order;
  out[reduced % n] = reduced < n ? 1 : -1;
  return out;
}

/** The ℓ2 operator norm of multiplication by x: its largest value at a root of X^n + 1. */
function operatorNorm(x: readonly number[]): number {
  let largest = 0;
  for (let t = 0; t < n; t++) {
    const angle = (Math.PI * (2 * t + 1)) / n;
    let re = 0;
    let im = 0;
    x.forEach((c, k) => {
      re += c * Math.cos(angle * k);
      im += c * Math.sin(angle * k);
    });
    largest = Math.max(largest, Math.hypot(re, im));
  }
  return largest;
}

const two = [2, ...new Array<number>(n - 1).fill(0)];
const challenges: number[][] = [
  new Array<number>(n).fill(0),
  ...Array.from({ length: order }, (_, k) => power(k)),
];

describe('the encryption proof challenges (0 or a power of ζ of order 16)', () => {
  it('are 17 distinct ring elements', () => {
    expect(new Set(challenges.map((c) => c.join(','))).size).toBe(order + 1);
  });

  it('every difference d of two has 2/d in R (integer coefficients) of norm ≤ challengeInverseNorm', () => {
    let worst = 0;
    for (let a = 0; a < challenges.length; a++)
      for (let b = 0; b < challenges.length; b++) {
        if (a === b) continue;
        const d = challenges[a]!.map((x, k) => x - challenges[b]![k]!);
        // 2/ζ^k = 2·ζ^(−k); 2/(ζ^a − ζ^b) = −ζ^(−b)·(1 + ζ^k + … + ζ^(k(m−1))), k = a − b,
        // ζ^(km) = −1 (encryption-proof.ts, soundness).
        let inverse: number[];
        if (a === 0 || b === 0) {
          const k = a === 0 ? b - 1 : a - 1;
          inverse = power(-k).map((x) => (a === 0 ? -2 * x : 2 * x));
        } else {
          const k = a - b;
          let m = 1;
          while (power(k * m).join(',') !== power(n).join(',')) m++;
          let sum = new Array<number>(n).fill(0);
          for (let t = 0; t < m; t++) sum = sum.map((x, i) => x + power(k * t)[i]!);
          inverse = multiply(power(-(b - 1)), sum).map((x) => -x);
        }
        expect(inverse.every(Number.isInteger)).toBe(true);
        expect(multiply(d, inverse)).toEqual(two);
        worst = Math.max(worst, operatorNorm(inverse));
      }
    expect(worst).toBeLessThanOrEqual(challengeInverseNorm() * (1 + 1e-12));
    // The bound is attained (1 − ζ for ζ of full order), so the flooding is sized for it.
    expect(worst).toBeCloseTo(challengeInverseNorm(), 9);
  });
});
