import { describe, expect, it } from '@jest/globals';
import { SecAggError } from '../../crypto/secagg/errors.ts';
import type { SecAggResult } from '../../crypto/secagg/server.ts';
import {
  LIAR,
  plainSum,
  playDroppedDealer as play,
  recoverable,
  VICTIM,
} from '../support/secagg-dropped-dealer.ts';

/**
 * The second reveal (issue 17, "one bad member must not stop a default round"): a member v that
 * drops after ShareKeys leaving an s^SK that cannot be reconstructed — consistent shares of a
 * wrong secret (a), a masking key with a small-order component (b), or shares off any polynomial
 * (c) — used to stop the round (naming v). Now v's surviving neighbours reveal their pairwise
 * secrets with v (DLEQ-proven) once Unmasking shows the reconstruction failed: the round completes
 * with the sum of U3, only v is named, and nothing the coordinator received unmasks anyone.
 */
describe.each(['semi-honest', 'semi-malicious'] as const)(
  'SecAgg+ (%s): a member drops after ShareKeys leaving an s^SK that cannot be reconstructed',
  (adversary) => {
    it.each([
      ['(a) consistent, committed shares of a wrong s^SK', 'wrong-secret', 701],
      ['(b) a masking key with a small-order component (S_v + T)', 'torsion-key', 702],
      [
        '(c) shares off any polynomial (beyond Berlekamp–Welch and the t-subsets)',
        'off-polynomial',
        703,
      ],
    ] as const)(
      '%s: the round completes with the sum of U3, names only it, and recovers nobody',
      (_, liar, seed) => {
        const played = play(adversary, seed, liar);
        expect(played.refusals).toEqual(new Map());
        expect(played.result).not.toBeInstanceOf(Error);
        const result = played.result as SecAggResult;
        expect(result.included).toEqual([1, 2, 3, 4, 6]);
        expect([...result.sum]).toEqual([...plainSum(played)]);
        expect(result.misbehaving.map((m) => m.member)).toEqual([LIAR]);
        // Each survivor revealed its secret with the liar once, and only with the liar.
        expect(
          played.secondReveals.map((m) => [m.sender, m.pairwiseSecrets.map((p) => p.peer)]),
        ).toEqual([1, 2, 3, 4, 6].map((member) => [member, [LIAR]]));
        expect(recoverable(played)).toEqual([]);
      },
    );
  },
);

describe.each(['semi-honest', 'semi-malicious'] as const)(
  'the second reveal (%s) against a coordinator that asks for more',
  (adversary) => {
    it('asked for a member of the committed U3 (the victim, beside the liar): every member refuses, nothing is revealed, the round stops', () => {
      const played = play(adversary, 711, 'wrong-secret', {
        request: () => ({ dropped: [VICTIM, LIAR] }),
      });
      expect([...played.refusals.keys()]).toEqual([1, 2, 3, 4, 6]);
      for (const reason of played.refusals.values())
        expect(reason).toMatch(new RegExp(`^client ${VICTIM} is in the committed U3`));
      expect(played.secondReveals).toEqual([]);
      expect(played.result).toBeInstanceOf(SecAggError);
      expect(recoverable(played)).toEqual([]);
    });

    it('asked before the member unmasked (no U3 it acted on yet): refused, nothing revealed', () => {
      const played = play(adversary, 712, 'wrong-secret', { beforeUnmasking: true });
      // The refusals before Unmasking; the honest request after it is then answered.
      for (const reason of played.refusals.values())
        expect(reason).toMatch(/reveals pairwise secrets only after its Unmasking/);
      expect(played.refusals.size).toBe(5);
      expect(played.result).not.toBeInstanceOf(Error);
      expect(recoverable(played)).toEqual([]);
    });

    it('asked twice for the same member: the second answer reveals nothing', () => {
      const played = play(adversary, 713, 'wrong-secret', { repeat: true });
      expect(played.secondReveals.map((m) => m.pairwiseSecrets.length)).toEqual([
        ...[1, 1, 1, 1, 1],
        ...[0, 0, 0, 0, 0],
      ]);
      expect(played.result).not.toBeInstanceOf(Error);
      expect(recoverable(played)).toEqual([]);
    });
  },
);
