import { assertInteger } from '../validate.ts';

/**
 * The hypergeometric distribution: the number of marked items among `sampled` drawn without
 * replacement from `total` items of which `marked` are marked. Here: how many of a client's k
 * neighbours are corrupt (or survive) when a fixed fraction of all n clients are.
 */
export class Hypergeometric {
  readonly total: number;
  readonly marked: number;
  readonly sampled: number;

  constructor(total: number, marked: number, sampled: number) {
    assertInteger(total, 'population', 0);
    assertInteger(marked, 'marked population', 0, total);
    assertInteger(sampled, 'sample size', 0, total);
    this.total = total;
    this.marked = marked;
    this.sampled = sampled;
  }

  pmf(x: number): number {
    const { total, marked, sampled } = this;
    if (x < 0 || x > sampled || x > marked || sampled - x > total - marked) return 0;
    return Math.exp(
      logChoose(marked, x) + logChoose(total - marked, sampled - x) - logChoose(total, sampled),
    );
  }

  /** P[X ≤ x]. */
  cdf(x: number): number {
    let sum = 0;
    for (let i = 0; i <= Math.min(Math.floor(x), this.sampled); i++) sum += this.pmf(i);
    return Math.min(sum, 1);
  }

  /** P[X ≥ x], summed from the upper tail so tiny probabilities keep their precision. */
  upperTail(x: number): number {
    let sum = 0;
    for (let i = this.sampled; i >= Math.max(Math.ceil(x), 0); i--) sum += this.pmf(i);
    return Math.min(sum, 1);
  }
}

let logFactorials = new Float64Array([0]);

/** ln(m!), from a cumulative table (exact to double rounding for every m we use, ≤ 10^6). */
export function logFactorial(m: number): number {
  assertInteger(m, 'factorial argument', 0, 10_000_000);
  if (m >= logFactorials.length) {
    const grown = new Float64Array(Math.max(m + 1, logFactorials.length * 2));
    grown.set(logFactorials);
    for (let i = logFactorials.length; i < grown.length; i++)
      grown[i] = grown[i - 1]! + Math.log(i);
    logFactorials = grown;
  }
  return logFactorials[m]!;
}

export function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}
