/* eslint-disable @typescript-eslint/require-await -- fakes of async clients that answer at once */
import { afterEach, describe, expect, it } from '@jest/globals';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ledger } from '../../ledger/ledger.ts';
import { UpdateState, updateStateToJSON } from '../../proto/gen/veilsum/v1/member.ts';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { UnmaskJournal, updateDigest } from '../../sdk/unmask-journal.ts';
import { UpdateQueue } from '../../services/member/update-queue.ts';
import {
  followerOf,
  queuedUpdate,
  removeFollowerFolders,
  secAggRound,
} from '../support/member-follower.ts';

/**
 * Attack (the coordinator, exploiting a crash): the peer restarts mid-round after its upload
 * (journal entry written). The threat model (row "a bank insider, or a crash"): "the round's
 * included set decides, the peer never says 'not sent' for an update the sum holds". The
 * included set the peer reads in `settle` is the coordinator's GetRound, never the bank's own
 * ledger view — which the peer has (FollowerOptions.ledger) and whose closed round names the
 * members whose updates are in the aggregate. The coordinator answers DONE with the bank left
 * out while the ledger says the bank is in the sum.
 */
afterEach(removeFollowerFolders);

async function restartedPeer(
  fileChanged: boolean | 'deleted' | 'odd',
  coordinatorIncludes = false,
) {
  const values = Float32Array.from([0.5, -0.5, 0.25, 0.75]);
  const queued = queuedUpdate(values);
  const { record, dataDir } = queued;
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
  if (fileChanged === 'deleted') rmSync(join(dataDir, 'updates', record.updateId, 'values.f32'));
  else if (fileChanged === 'odd')
    writeFileSync(join(dataDir, 'updates', record.updateId, 'values.f32'), Buffer.alloc(15));
  else if (fileChanged)
    writeFileSync(
      join(dataDir, 'updates', record.updateId, 'values.f32'),
      Buffer.from(Float32Array.from([0.9, 0.9, 0.9, 0.9]).buffer),
    );
  // The bank's own ledger view: round closed with bank-01 in the aggregate.
  const ledger = {
    getRound: async () => ({
      roundId: 'fraud/round-1',
      status: 'closed',
      included: ['bank-01'],
    }),
  } as unknown as Ledger;
  const queue = new UpdateQueue(dataDir);
  const follower = followerOf(
    { dataDir, queue },
    {
      listRounds: async () => [],
      // The coordinator's word: done, and bank-01 (index 1) not among the included.
      getRound: async () => ({
        ...secAggRound(1),
        phase: Phase.PHASE_DONE,
        included: coordinatorIncludes ? [1] : [],
      }),
    },
    { ledger },
  );
  follower.start();
  for (let waited = 0; waited < 5_000; waited += 20) {
    if (follower.isFinal(queue.get(record.updateId)!)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  follower.stop();
  return queue.get(record.updateId)!;
}

describe("review: after a restart, the bank's ledger — not the coordinator — says whether its update is in the sum", () => {
  it('file unchanged, upload journalled: a coordinator leaving the bank out of GetRound.included does not make the peer say "not received"', async () => {
    const settled = await restartedPeer(false);
    expect({ state: updateStateToJSON(settled.state), detail: settled.detail }).toEqual({
      state: 'UPDATE_STATE_INCLUDED',
      detail: expect.any(String),
    });
  });

  it('file changed on disk while down (the new branch): same', async () => {
    const settled = await restartedPeer(true);
    expect({ state: updateStateToJSON(settled.state), detail: settled.detail }).toEqual({
      state: 'UPDATE_STATE_INCLUDED',
      detail: expect.any(String),
    });
  });

  it('file deleted or cut inside a float while down (an insider, a disk error): the update still reaches a final state from the round', async () => {
    // Coordinator and ledger agree here: the round is done with the bank in it.
    const deleted = await restartedPeer('deleted', true);
    const odd = await restartedPeer('odd', true);
    expect({
      deleted: updateStateToJSON(deleted.state),
      odd: updateStateToJSON(odd.state),
    }).toEqual({
      deleted: 'UPDATE_STATE_INCLUDED',
      odd: 'UPDATE_STATE_INCLUDED',
    });
  });
});
