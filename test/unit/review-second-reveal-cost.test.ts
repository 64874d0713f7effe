import { describe, expect, it, jest } from '@jest/globals';

/**
 * Review of the second reveal (issue 17), THREAT-REVIEW question 8 (resources). ownsMaskingKey
 * (crypto/secagg/pairwise-reveal.ts) lifts every other member's masking key (a square root and a
 * cofactor clearing, ~0.3 ms each with noble) on every call, and the server calls it for each
 * convicted or second-reveal member, twice for the latter (closeUnmasking, then pairwiseJobs in
 * closePairwiseReveal), synchronously on the coordinator's event loop. At n = 1000 one call took
 * 267 ms against 3 ms for the byte comparison it replaced (load ~11), so each member that deals a
 * bad s^SK and drops costs the coordinator ≥ 0.5 s of blocked event loop on top of Berlekamp–Welch.
 * The advertised keys are fixed when AdvertiseKeys closes: their lifts can be computed once per
 * round, so the sound cost of the uniqueness checks in one round is about one lift per member.
 * Here liftPeerKey is counted (every call made from outside crypto/dleq.ts) while the honest
 * server closes Unmasking and the second reveal of a round with one bad dealer (n = 6).
 */
const actual = await import('../../crypto/dleq.ts');
let lifts = 0;
jest.unstable_mockModule('../../crypto/dleq.ts', () => ({
  ...actual,
  liftPeerKey: (key: Uint8Array) => {
    lifts++;
    return actual.liftPeerKey(key);
  },
}));
const { playDroppedDealer, CLIENTS } = await import('../support/secagg-dropped-dealer.ts');
const { SecAggServer } = await import('../../crypto/secagg/server.ts');

describe('review: the cost of the key-ownership checks on the coordinator', () => {
  it('closing Unmasking and the second reveal lifts each advertised key at most once per round', () => {
    const prototype = SecAggServer.prototype;
    // Restored below; called with the server as `this` (Function.prototype.call).
    const closeUnmasking = Object.getOwnPropertyDescriptor(prototype, 'closeUnmasking')!.value as (
      this: InstanceType<typeof SecAggServer>,
    ) => 'ready' | 'pairwise-reveal';
    const closePairwiseReveal = Object.getOwnPropertyDescriptor(prototype, 'closePairwiseReveal')!
      .value as (this: InstanceType<typeof SecAggServer>) => void;
    let serverLifts = 0;
    const counted = <T>(original: (this: InstanceType<typeof SecAggServer>) => T) =>
      function (this: InstanceType<typeof SecAggServer>): T {
        const before = lifts;
        try {
          return original.call(this);
        } finally {
          serverLifts += lifts - before;
        }
      };
    prototype.closeUnmasking = counted(closeUnmasking);
    prototype.closePairwiseReveal = counted(closePairwiseReveal);
    let played;
    try {
      played = playDroppedDealer('semi-malicious', 921, 'wrong-secret');
    } finally {
      prototype.closeUnmasking = closeUnmasking;
      prototype.closePairwiseReveal = closePairwiseReveal;
    }
    expect(played.result).not.toBeInstanceOf(Error);
    expect(played.secondReveals).toHaveLength(CLIENTS - 1);
    // One bad dealer, n = 6: today 2 × 6 lifts (every key, in each of the two checks).
    expect(serverLifts).toBeLessThanOrEqual(CLIENTS);
  });
});
