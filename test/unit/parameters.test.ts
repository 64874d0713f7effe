import { describe, expect, it } from '@jest/globals';
import {
  assertSecureParameters,
  chooseGraphParameters,
  completeGraphParameters,
  corruptClients,
  defaultMinContributors,
  InfeasibleParametersError,
  InsecureParametersError,
  semiHonestThreshold,
  semiMaliciousThreshold,
  SPARSE_MIN_CLIENTS,
} from '../../crypto/secagg/parameters.ts';
import { Hypergeometric } from '../../crypto/secagg/hypergeometric.ts';

describe('SecAgg+ graph parameters (k, t)', () => {
  // Expected values from the reference parameter finder's tests (γ = δ = 0.05); against a
  // semi-malicious server ours is stricter (2t > k + 1 + t1, not ≥: the reference's 52, 37).
  it.each([
    [100, 'semi-honest', 12, 6],
    [1000, 'semi-honest', 30, 17],
    [10000, 'semi-honest', 34, 20],
    [1000, 'semi-malicious', 54, 39],
  ] as const)(
    'n = %i against a %s server gives k = %i, t = %i',
    (clients, adversary, degree, threshold) => {
      expect(
        chooseGraphParameters({ clients, corruptionRate: 0.05, dropoutRate: 0.05, adversary }),
      ).toEqual({
        degree,
        threshold,
        complete: false,
      });
    },
  );

  it('falls back to the complete graph at consortium sizes with a large corruption budget', () => {
    // 9 corrupt and 9 dropouts among 20: no sparse degree keeps t above the corrupt count
    // while below the surviving-neighbour count.
    const params = chooseGraphParameters({
      clients: 20,
      corruptionRate: 0.45,
      dropoutRate: 0.45,
      adversary: 'semi-honest',
    });
    expect(params).toEqual({ degree: 19, threshold: 10, complete: true });
  });

  it('complete graph against a semi-malicious server needs t > (n + γn)/2', () => {
    expect(
      completeGraphParameters({
        clients: 20,
        corruptionRate: 0.1,
        dropoutRate: 0.2,
        adversary: 'semi-malicious',
      }).threshold,
    ).toBe(12);
    expect(() =>
      completeGraphParameters(
        { clients: 20, corruptionRate: 0.1, dropoutRate: 0.2, adversary: 'semi-malicious' },
        11,
      ),
    ).toThrow(/insecure/);
    expect(() =>
      completeGraphParameters(
        { clients: 20, corruptionRate: 0.1, dropoutRate: 0.2, adversary: 'semi-honest' },
        17,
      ),
    ).toThrow(/exceeds the 16 clients expected to survive/);
  });

  it('refuses budgets beyond the feasibility bounds', () => {
    expect(() =>
      chooseGraphParameters({
        clients: 100,
        corruptionRate: 0.5,
        dropoutRate: 0.45,
        adversary: 'semi-honest',
      }),
    ).toThrow(InfeasibleParametersError);
    expect(() =>
      chooseGraphParameters({
        clients: 100,
        corruptionRate: 0.3,
        dropoutRate: 0.31,
        adversary: 'semi-malicious',
      }),
    ).toThrow(/γ \+ 2δ/);
  });

  it('chosen thresholds meet both probability bounds they claim', () => {
    for (const clients of [100, 1000]) {
      const model = {
        clients,
        corruptionRate: 0.05,
        dropoutRate: 0.05,
        adversary: 'semi-honest' as const,
      };
      const { degree, threshold } = chooseGraphParameters(model);
      const corrupt = new Hypergeometric(clients, Math.floor(0.05 * clients + 1e-9), degree);
      const surviving = new Hypergeometric(clients, Math.ceil(0.95 * clients - 1e-9), degree);
      expect(corrupt.upperTail(threshold)).toBeLessThan(2 ** -41 / clients);
      expect(surviving.cdf(threshold - 1)).toBeLessThan(2 ** -20 / clients);
    }
  });
});

describe('what a member checks: (k, t) and min contributors against n, γ, δ', () => {
  const model = (clients: number, adversary: 'semi-honest' | 'semi-malicious') => ({
    clients,
    corruptionRate: 0.05,
    dropoutRate: 0.05,
    adversary,
  });

  it('rounds γn and δn up: 19 members at γ = δ = 0.05 get the complete graph, not a colluder-free ring', () => {
    // Rounded down, γn = 0 and the finder returned a ring (k = 2, t = 2) that assumed no colluder.
    for (const clients of [10, 19, 40]) {
      const chosen = chooseGraphParameters(model(clients, 'semi-honest'));
      expect(chosen).toMatchObject({ degree: clients - 1, complete: true });
      expect(chosen.threshold).toBeGreaterThanOrEqual(2);
      expect(() => assertSecureParameters(model(clients, 'semi-honest'), 2, 2)).toThrow(
        InsecureParametersError,
      );
    }
  });

  it('refuses explicit (k, t) weaker than the threat model: k = n − 1, t = 2 against a semi-malicious server', () => {
    expect(() => assertSecureParameters(model(1000, 'semi-malicious'), 999, 2)).toThrow(
      /threshold 2 is below the secure minimum 526 for degree 999/,
    );
    // The reference finder's (52, 37) sits on the bound 2t = k + 1 + t1 (t1 = 21): refused.
    expect(() => assertSecureParameters(model(1000, 'semi-malicious'), 52, 37)).toThrow(
      /below the secure minimum 38/,
    );
    expect(() => assertSecureParameters(model(1000, 'semi-honest'), 4, 4)).toThrow(
      /degree 4 is too sparse/,
    );
    expect(() => assertSecureParameters(model(1000, 'semi-malicious'), 52, 38)).not.toThrow();
  });

  it('semi-malicious sparse t satisfies 2t > k + 1 + t1 strictly, for both parities of t1', () => {
    const parities = new Set<number>();
    for (let degree = 2; degree <= 200; degree += 2) {
      for (let t1 = 0; t1 <= degree + 1; t1++) {
        const t = semiMaliciousThreshold(t1, degree);
        expect(2 * t).toBeGreaterThan(degree + 1 + t1);
        // …and is the smallest such t.
        expect(2 * (t - 1)).toBeLessThanOrEqual(degree + 1 + t1);
        parities.add(t1 % 2);
      }
    }
    expect([...parities].sort()).toEqual([0, 1]);
  });

  it('every sparse (k, t) the finder returns against a semi-malicious server has 2t > k + 1 + t1', () => {
    // Every n from the sparse switch point to 1000, then a sample up to the finder's 10^6.
    const sizes = [
      ...Array.from({ length: 1001 - SPARSE_MIN_CLIENTS }, (_, i) => SPARSE_MIN_CLIENTS + i),
      1999,
      2000,
      4999,
      10_000,
      10_001,
      99_999,
      1_000_000,
    ];
    const parities = new Set<number>();
    let sparse = 0;
    for (const clients of sizes) {
      const threat = model(clients, 'semi-malicious');
      const { degree, threshold, complete } = chooseGraphParameters(threat);
      if (complete) {
        expect(2 * threshold).toBeGreaterThan(clients + corruptClients(threat));
        continue;
      }
      sparse++;
      const t1 = semiHonestThreshold(threat, degree);
      parities.add(t1 % 2);
      expect({ clients, degree, ok: 2 * threshold > degree + 1 + t1 }).toEqual({
        clients,
        degree,
        ok: true,
      });
      expect(() => assertSecureParameters(threat, degree, threshold - 1)).toThrow(
        InsecureParametersError,
      );
    }
    expect(sparse).toBeGreaterThan(900);
    expect([...parities].sort()).toEqual([0, 1]);
  });

  it('defaults min contributors to all but the ⌈δn⌉ expected to drop', () => {
    expect(defaultMinContributors(model(1000, 'semi-honest'))).toBe(950);
    expect(defaultMinContributors(model(19, 'semi-honest'))).toBe(18);
    expect(defaultMinContributors({ ...model(5, 'semi-honest'), dropoutRate: 0 })).toBe(5);
  });
});

describe('hypergeometric distribution', () => {
  it('sums to one and has the textbook mean', () => {
    const h = new Hypergeometric(50, 12, 10);
    let total = 0;
    let mean = 0;
    for (let x = 0; x <= 10; x++) {
      total += h.pmf(x);
      mean += x * h.pmf(x);
    }
    expect(total).toBeCloseTo(1, 12);
    expect(mean).toBeCloseTo((10 * 12) / 50, 12);
    expect(h.cdf(4) + h.upperTail(5)).toBeCloseTo(1, 12);
  });
});
