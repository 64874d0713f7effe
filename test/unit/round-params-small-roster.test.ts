import { describe, expect, it } from '@jest/globals';
import { Adversary, Mode, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { resolveRoundParams } from '../../services/coordinator/round-params.ts';

const BANKS = ['bank-a', 'bank-b', 'bank-c', 'bank-d'];

const params = (members: string[], overrides: Partial<RoundParams> = {}): RoundParams => ({
  modelId: 'fraud',
  roundNumber: 1,
  mode: Mode.MODE_SECAGG,
  dimension: 1000,
  quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
  threshold: 0,
  degree: 0,
  adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
  members,
  deadlines: undefined,
  corruptionRate: 0.1,
  dropoutRate: 0.1,
  minContributors: 0,
  ckks: undefined,
  ...overrides,
});

describe('default (k, t) for a small consortium (the README’s `round open`)', () => {
  it('three banks against a semi-malicious server: the complete graph with t = 3 (no dropout tolerated)', () => {
    const resolved = resolveRoundParams(params(BANKS.slice(0, 3)), new Set(BANKS), undefined);
    expect([resolved.degree, resolved.threshold]).toEqual([2, 3]);
    // t = n: every member must contribute, and the params say so rather than advertise 2.
    expect(resolved.params.minContributors).toBe(3);
    expect(() =>
      resolveRoundParams(
        params(BANKS.slice(0, 3), { minContributors: 2 }),
        new Set(BANKS),
        undefined,
      ),
    ).toThrow(/min_contributors must be in \[3, 3\]/);
  });

  it('four banks keep the dropout-tolerant choice, and an explicit weak or oversize t is still refused', () => {
    const four = resolveRoundParams(params(BANKS), new Set(BANKS), undefined);
    expect([four.degree, four.threshold]).toEqual([3, 3]);
    expect(() =>
      resolveRoundParams(params(BANKS.slice(0, 3), { threshold: 2 }), new Set(BANKS), undefined),
    ).toThrow(/weaker than the threat model/);
    expect(() =>
      resolveRoundParams(
        params(BANKS.slice(0, 3), { corruptionRate: 0.5, dropoutRate: 0.3 }),
        new Set(BANKS),
        undefined,
      ),
    ).toThrow(/γ \+ 2δ = 1.100 exceeds 0.9/);
  });
});
