/* eslint-disable @typescript-eslint/require-await -- fakes of async clients that answer at once */
import { afterEach, describe, expect, it } from '@jest/globals';
import { dequantizeSum } from '../../crypto/quantize.ts';
import { Phase, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import {
  followerOf,
  queuedUpdate,
  removeFollowerFolders,
  secAggRound,
} from '../support/member-follower.ts';

/**
 * Attack (the coordinator): show the peer one round in ListRounds (the view the queued update is
 * quantized with, slice by slice) and another in GetRound (the view participateQuantized verifies
 * against the params hash and the ledger and runs). Before the change `participate` quantized and
 * verified one view. Here the ledger-true round says clip 1; the unverified listing says clip 100:
 * the bank's contribution enters the sum scaled by 1/100 (or as bare signs with a tiny clip), and
 * nothing notices.
 */
afterEach(removeFollowerFolders);

describe('the member peer quantizes with the round it takes part in', () => {
  it('uses one view of the round for the levels and for the participation', async () => {
    const values = Float32Array.from([0.5, -0.5, 0.25, 0.75]);
    const queued = queuedUpdate(values);
    let ran: { round: Round; levels: Uint32Array } | undefined;
    const follower = followerOf(queued, {
      listRounds: async () => [secAggRound(100)], // the coordinator's unverified listing
      getRound: async () => secAggRound(1), // what participateQuantized checks against the ledger
      participateQuantized: async (round: Round, levels: Uint32Array) => {
        ran = { round, levels: Uint32Array.from(levels) };
        return {
          round: { ...round, phase: Phase.PHASE_DONE },
          included: true,
          uploadSha256: undefined,
        };
      },
    });
    follower.start();
    for (let i = 0; i < 50 && ran === undefined; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    follower.stop();
    expect(ran).toBeDefined();
    // Decoded with the parameters of the round the levels were uploaded into.
    const decoded = dequantizeSum(ran!.levels, 1, ran!.round.params!.quantization!);
    for (let i = 0; i < values.length; i++)
      expect(Math.abs(decoded[i]! - values[i]!)).toBeLessThan(0.01);
  });
});
