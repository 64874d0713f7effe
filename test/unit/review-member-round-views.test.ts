/* eslint-disable @typescript-eslint/require-await -- fakes of async clients that answer at once */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import {
  followerOf,
  queuedUpdate,
  removeFollowerFolders,
  secAggRound,
} from '../support/member-follower.ts';

/**
 * Attack (the coordinator): list ever new rounds, each with long absence lists, on every poll
 * while the bank has an update queued. Before the change the peer kept a view of every round it
 * was ever shown, and its memory grew without bound.
 */
afterEach(removeFollowerFolders);

describe("the member peer's views of the coordinator's rounds", () => {
  it('keep only rounds still listed (a coordinator that renames rounds each poll grows nothing)', async () => {
    const queued = queuedUpdate(new Float32Array(4), '00'.repeat(32));
    let poll = 0;
    const reason = 'x'.repeat(1024);
    const follower = followerOf(
      queued,
      {
        // Each listing: 200 rounds of another model, never seen before, each waiting for 4 members.
        listRounds: async () => {
          poll++;
          return Array.from({ length: 200 }, (_, i) => ({
            ...secAggRound(1),
            roundId: `other/round-${poll * 1000 + i}`,
            phase: Phase.PHASE_UNMASKING,
            missing: Array.from({ length: 4 }, (_, m) => ({
              memberId: `bank-${m}`,
              reason,
              phase: Phase.PHASE_UNMASKING,
            })),
            params: { ...secAggRound(1).params!, modelId: 'other' },
          }));
        },
      },
      { pollIntervalMs: 50 },
    );
    follower.start();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    follower.stop();
    expect(follower.views.size).toBeLessThanOrEqual(200);
  });
});
