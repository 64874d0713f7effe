import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { nobleCurve25519 } from '../../crypto/curve25519-noble.ts';
import { TooFewParticipantsError } from '../../crypto/secagg/errors.ts';
import { type DropoutPhase, simulateRound } from '../../crypto/secagg/simulation.ts';
import { expectedOutcome, modularSum, roundFixture } from '../support/secagg-fixture.ts';

const DROPOUT_PHASES: DropoutPhase[] = [
  'advertise-keys',
  'share-keys',
  'masked-input',
  'consistency-check',
  'unmasking',
];

const roundArb = fc
  .record({
    clients: fc.integer({ min: 3, max: 200 }),
    completeGraph: fc.boolean(),
    degreeFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    thresholdFraction: fc.double({ min: 0, max: 0.7, noNaN: true }),
    dimension: fc.integer({ min: 1, max: 48 }),
    adversary: fc.constantFrom('semi-honest' as const, 'semi-malicious' as const),
    modulusBits: fc.constantFrom(20, 32),
    dropoutRate: fc.double({ min: 0, max: 0.35, noNaN: true }),
    seed: fc.nat(),
  })
  .map((spec) => {
    // Complete graphs only up to 40 clients keep a run under a second; larger rounds are sparse.
    const maxSparse = Math.min(spec.clients - 2, 16);
    const sparseDegree =
      2 * (1 + Math.floor(spec.degreeFraction * Math.max(0, Math.floor(maxSparse / 2) - 1)));
    const degree =
      (spec.completeGraph && spec.clients <= 40) ||
      spec.clients < 5 ||
      sparseDegree >= spec.clients - 1
        ? spec.clients - 1
        : sparseDegree;
    const threshold = 2 + Math.floor(spec.thresholdFraction * (degree + 1 - 2));
    return { ...spec, degree, threshold };
  });

/** One in-process round of a fixture under a dropout schedule. */
const run = (
  fixture: ReturnType<typeof roundFixture>,
  dropouts: ReadonlyMap<number, DropoutPhase>,
) =>
  simulateRound({
    context: fixture.context,
    identitySecretKeys: fixture.identitySecretKeys,
    inputs: fixture.inputs,
    dropouts,
    curve: fixture.curve,
    random: fixture.random,
  });

describe('SecAgg+ rounds with dropouts (property)', () => {
  it('returns exactly the modular sum of U3, or aborts exactly when a threshold check fails', () => {
    fc.assert(
      fc.property(roundArb, (spec) => {
        const fixture = roundFixture(spec);
        const dropouts = new Map<number, DropoutPhase>();
        for (let client = 1; client <= spec.clients; client++) {
          const draw = fixture.random(2);
          if (draw[0]! / 256 < spec.dropoutRate)
            dropouts.set(client, DROPOUT_PHASES[draw[1]! % DROPOUT_PHASES.length]!);
        }
        const expected = expectedOutcome(fixture.context, dropouts);
        if (expected.aborts) {
          expect(() => run(fixture, dropouts)).toThrow(TooFewParticipantsError);
          return;
        }
        const { result } = run(fixture, dropouts);
        expect(result.included).toEqual(expected.included);
        expect(result.sum).toEqual(modularSum(fixture.inputs, expected.included, spec.modulusBits));
      }),
      { numRuns: 40 },
    );
  });
});

describe('SecAgg+ rounds (scenarios)', () => {
  it('recovers the sum when 30% of clients drop after ShareKeys (their pairwise masks are removed)', () => {
    const fixture = roundFixture({
      clients: 30,
      degree: 29,
      threshold: 16,
      dimension: 64,
      seed: 11,
    });
    const dropouts = new Map<number, DropoutPhase>(
      Array.from({ length: 9 }, (_, i) => [3 * i + 1, 'masked-input']),
    );
    const { result } = run(fixture, dropouts);
    const included = Array.from({ length: 30 }, (_, i) => i + 1).filter((c) => !dropouts.has(c));
    expect(result.included).toEqual(included);
    expect(result.droppedAfterSharing).toEqual([...dropouts.keys()]);
    expect(result.sum).toEqual(modularSum(fixture.inputs, included, 32));
  });

  it('includes clients that uploaded a masked input and then dropped before Unmasking', () => {
    const fixture = roundFixture({
      clients: 40,
      degree: 12,
      threshold: 6,
      dimension: 32,
      seed: 12,
    });
    const dropouts = new Map<number, DropoutPhase>([
      [2, 'unmasking'],
      [9, 'unmasking'],
      [17, 'unmasking'],
      [30, 'share-keys'],
    ]);
    const { result } = run(fixture, dropouts);
    expect(result.included).toContain(2);
    expect(result.included).toContain(9);
    expect(result.included).not.toContain(30);
    expect(result.participantSets.unmasked).not.toContain(2);
    expect(result.sum).toEqual(modularSum(fixture.inputs, result.included, 32));
  });

  it('aborts with a clear error, never a wrong sum, when fewer than t clients survive', () => {
    const fixture = roundFixture({ clients: 10, degree: 9, threshold: 6, dimension: 8, seed: 13 });
    const dropouts = new Map<number, DropoutPhase>([1, 2, 3, 4, 5].map((c) => [c, 'unmasking']));
    expect(() => run(fixture, dropouts)).toThrow(
      /only 5 clients sent unmasking shares, threshold is 6: round aborted/,
    );
  });

  it('recovers the sum in a semi-malicious round where a survivor skips the consistency check', () => {
    const fixture = roundFixture({
      clients: 12,
      degree: 11,
      threshold: 8,
      dimension: 16,
      adversary: 'semi-malicious',
      seed: 14,
    });
    const dropouts = new Map<number, DropoutPhase>([
      [4, 'consistency-check'],
      [6, 'masked-input'],
    ]);
    const { result } = run(fixture, dropouts);
    expect(result.included).toContain(4);
    expect(result.participantSets.signed).not.toContain(4);
    expect(result.sum).toEqual(modularSum(fixture.inputs, result.included, 32));
  });

  it('gives the same result with the noble and the native Curve25519 backends', () => {
    const dropouts = new Map<number, DropoutPhase>([[3, 'masked-input']]);
    const native = run(
      roundFixture({ clients: 8, degree: 4, threshold: 3, dimension: 16, seed: 15 }),
      dropouts,
    );
    const noble = run(
      roundFixture({
        clients: 8,
        degree: 4,
        threshold: 3,
        dimension: 16,
        seed: 15,
        curve: nobleCurve25519,
      }),
      dropouts,
    );
    expect(noble.result.sum).toEqual(native.result.sum);
    expect(noble.result.included).toEqual(native.result.included);
  });
});
