/* eslint-disable @typescript-eslint/require-await -- fakes of async clients that answer at once */
import { afterEach, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UpdateState } from '../../proto/gen/veilsum/v1/member.ts';
import { Phase, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import { UnmaskJournal, updateDigest } from '../../sdk/unmask-journal.ts';
import { UpdateQueue } from '../../services/member/update-queue.ts';
import {
  followerOf,
  queuedUpdate,
  removeFollowerFolders,
  secAggRound,
} from '../support/member-follower.ts';

/**
 * Attack (whoever can write the peer's data folder, or a disk error): change a queued update's
 * file after the peer acknowledged its SHA-256. Before the change the peer quantized and uploaded
 * whatever the file then held, in the caller's name.
 */
afterEach(removeFollowerFolders);

describe('the member peer takes part only with the update the caller sent', () => {
  it('refuses a queued update whose file no longer has the SHA-256 checked at submission', async () => {
    const queued = queuedUpdate(Float32Array.from([0.5, -0.5, 0.25, 0.75]));
    const { queue, record } = queued;
    // The file changes on disk after QUEUED (a short write, a restored backup, a disk error).
    writeFileSync(
      join(queued.dataDir, 'updates', record.updateId, 'values.f32'),
      Buffer.from(Float32Array.from([0.9, 0.9, 0.9, 0.9]).buffer),
    );
    let ran = false;
    const follower = followerOf(queued, {
      listRounds: async () => [secAggRound(1)],
      getRound: async () => secAggRound(1),
      participateQuantized: async (round: Round) => {
        ran = true;
        return {
          round: { ...round, phase: Phase.PHASE_DONE },
          included: true,
          uploadSha256: undefined,
        };
      },
    });
    follower.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    follower.stop();
    expect(ran).toBe(false);
    const dropped = queue.all().find((r) => r.updateId === record.updateId)!;
    expect(dropped.state).toBe(UpdateState.UPDATE_STATE_DROPPED);
    expect(dropped.detail).toMatch(/no longer matches the SHA-256 acknowledged at submission/);
  });

  it('after a restart mid-round, follows the round to its end when the file changed, instead of declaring the update never sent', async () => {
    const values = Float32Array.from([0.5, -0.5, 0.25, 0.75]);
    const queued = queuedUpdate(values);
    const { record, dataDir } = queued;
    // The peer took part and uploaded: its re-run journal claimed the update first (as the SDK
    // does before the upload); then it was killed.
    queued.queue.transition(record.updateId, UpdateState.UPDATE_STATE_UPLOADED, 'uploaded', {
      roundId: 'fraud/round-1',
      memberIndex: 1,
    });
    new UnmaskJournal(join(dataDir, 'journal')).record({
      modelId: 'fraud',
      roundNumber: 1,
      roundId: 'fraud/round-1',
      updateSha256: updateDigest(values),
    });
    writeFileSync(
      join(dataDir, 'updates', record.updateId, 'values.f32'),
      Buffer.from(Float32Array.from([0.9, 0.9, 0.9, 0.9]).buffer),
    );
    // Restarted: the queue read back from disk; the round finished with the bank's update in it.
    const queue = new UpdateQueue(dataDir);
    const follower = followerOf(
      { dataDir, queue },
      {
        listRounds: async () => [],
        getRound: async () => ({ ...secAggRound(1), phase: Phase.PHASE_DONE }),
      },
    );
    follower.start();
    for (let waited = 0; waited < 5_000; waited += 20) {
      if (follower.isFinal(queue.get(record.updateId)!)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    follower.stop();
    const settled = queue.get(record.updateId)!;
    // Before: the digest of the changed file was not in the journal, so the peer dropped the
    // update as "restarted before its upload" although the round's sum held it.
    expect(settled.detail).not.toMatch(/before its upload/);
    expect(settled.state).toBe(UpdateState.UPDATE_STATE_INCLUDED);
  });
});
