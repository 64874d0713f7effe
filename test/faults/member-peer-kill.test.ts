import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { UpdateState, type QueuedUpdate } from '../../proto/gen/veilsum/v1/member.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../support/consortium.ts';
import {
  getResult,
  headerFor,
  isFinal,
  PeerClients,
  sampleUpdate,
  type MemberPeerSet,
  secAggRoundParams,
  startMemberPeers,
  submitUpdate,
  watchUntil,
} from '../support/member-peers.ts';

const DIMENSION = 500;
const DEADLINE_MS = 12_000;

const updateOf = (seed: number) => sampleUpdate(DIMENSION, seed);

/**
 * Four banks' peers (t = 3: one may drop). Bank 1's peer is SIGKILLed at each phase of its
 * update's life and restarted; the update is counted at most once — the aggregate is checked
 * against the exact float sum of the updates the round says it included.
 */
describe('a member peer SIGKILLed with an update in flight', () => {
  let set: MemberPeerSet;
  let admin: VeilsumClient;
  const clients = new PeerClients(() => set);
  const clientOf = (i: number) => clients.of(i);
  const closeClients = () => clients.closeAll();

  beforeAll(async () => {
    set = await startMemberPeers({ members: 4 });
    admin = VeilsumClient.connect(set.consortium.profile(ADMIN, set.coordinator.port));
  }, 120_000);

  afterAll(async () => {
    closeClients();
    admin?.close();
    await set?.stop();
  });

  /** Kills bank 1's peer, restarts it, and returns its update's final state. */
  async function killAndRestart(updateId: string): Promise<QueuedUpdate> {
    closeClients();
    await set.peers[0]!.kill();
    await set.peers[0]!.start();
    return (await watchUntil(clientOf(0), updateId, isFinal)).at(-1)!;
  }

  /** The round's float sum against the exact sum of the included members' updates. */
  async function expectSumOf(roundId: string, updates: Float32Array[], included: number[]) {
    const round = await admin.getRound(roundId);
    expect(round.phase).toBe(Phase.PHASE_DONE);
    expect(round.included).toEqual(included);
    const { header, sum } = await getResult(clientOf(1), roundId);
    expect(header.contributors).toBe(included.length);
    let worst = 0;
    for (let i = 0; i < DIMENSION; i++) {
      let exact = 0;
      for (const index of included) exact += updates[index - 1]![i]!;
      worst = Math.max(worst, Math.abs(sum[i]! - exact));
    }
    expect(worst).toBeLessThanOrEqual(header.errorBound);
  }

  it('killed while QUEUED: restarted, it takes part in the next round and the update is summed once', async () => {
    const updates = [1, 2, 3, 4].map(updateOf);
    const first = await submitUpdate(
      clientOf(0),
      updates[0]!,
      headerFor(updates[0]!, { modelId: 'queued-kill' }),
    );
    expect(first.update!.state).toBe(UpdateState.UPDATE_STATE_QUEUED);
    closeClients();
    await set.peers[0]!.kill();
    await set.peers[0]!.start();
    const others = await Promise.all(
      [1, 2, 3].map((i) =>
        submitUpdate(clientOf(i), updates[i]!, headerFor(updates[i]!, { modelId: 'queued-kill' })),
      ),
    );
    const round = await admin.openRound(
      secAggRoundParams(set.consortium.members, 'queued-kill', 1, DIMENSION, DEADLINE_MS),
    );
    const finals = await Promise.all(
      [first, ...others].map(async (response, i) =>
        (await watchUntil(clientOf(i), response.update!.updateId, isFinal)).at(-1)!,
      ),
    );
    for (const update of finals)
      expect(update).toMatchObject({
        state: UpdateState.UPDATE_STATE_INCLUDED,
        roundId: round.roundId,
      });
    await expectSumOf(round.roundId, updates, [1, 2, 3, 4]);
  }, 120_000);

  it('killed IN_ROUND before its upload: restarted, the bank drops out and the sum holds the other three', async () => {
    const updates = [5, 6, 7, 8].map(updateOf);
    const first = await submitUpdate(
      clientOf(0),
      updates[0]!,
      headerFor(updates[0]!, { modelId: 'round-kill' }),
    );
    const round = await admin.openRound(
      secAggRoundParams(set.consortium.members, 'round-kill', 1, DIMENSION, DEADLINE_MS),
    );
    // Alone in the round, bank 1 waits for the others' keys: it cannot have uploaded.
    await watchUntil(
      clientOf(0),
      first.update!.updateId,
      (u) => u.state === UpdateState.UPDATE_STATE_IN_ROUND,
    );
    closeClients();
    await set.peers[0]!.kill();
    const others = await Promise.all(
      [1, 2, 3].map((i) =>
        submitUpdate(clientOf(i), updates[i]!, headerFor(updates[i]!, { modelId: 'round-kill' })),
      ),
    );
    await set.peers[0]!.start();
    const bankOne = (await watchUntil(clientOf(0), first.update!.updateId, isFinal)).at(-1)!;
    expect(bankOne).toMatchObject({
      state: UpdateState.UPDATE_STATE_DROPPED,
      roundId: round.roundId,
      detail: `the peer restarted during round ${round.roundId} before its upload: the round's keys were in memory only, so the bank left the round and the update was not sent`,
    });
    for (const [i, response] of others.entries())
      expect(
        (await watchUntil(clientOf(i + 1), response.update!.updateId, isFinal)).at(-1),
      ).toMatchObject({
        state: UpdateState.UPDATE_STATE_INCLUDED,
      });
    await expectSumOf(round.roundId, updates, [2, 3, 4]);
  }, 150_000);

  it('killed after its upload was acknowledged: restarted, it does not upload again and the round includes it once', async () => {
    const updates = [9, 10, 11, 12].map(updateOf);
    const responses = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        submitUpdate(clientOf(i), updates[i]!, headerFor(updates[i]!, { modelId: 'upload-kill' })),
      ),
    );
    const round = await admin.openRound(
      secAggRoundParams(set.consortium.members, 'upload-kill', 1, DIMENSION, DEADLINE_MS),
    );
    const seen = await watchUntil(
      clientOf(0),
      responses[0]!.update!.updateId,
      (u) => u.state === UpdateState.UPDATE_STATE_UPLOADED || isFinal(u),
    );
    expect(seen.at(-1)!.state).toBe(UpdateState.UPDATE_STATE_UPLOADED);
    const logBeforeKill = set.peers[0]!.logLines.length;
    const bankOne = await killAndRestart(responses[0]!.update!.updateId);
    expect(bankOne).toMatchObject({
      state: UpdateState.UPDATE_STATE_INCLUDED,
      roundId: round.roundId,
      detail: `round ${round.roundId} finished with the bank's update in its aggregate of 4 contributions`,
    });
    // The restarted peer never joined the round again. (Its log reaches this process through a
    // pipe, which may lag the gRPC answer above: read until the settling line is in, ≤ 10 s.)
    const settledBy = Date.now() + 10_000;
    while (
      !set.peers[0]!.events(logBeforeKill).some((e) => e.event === 'update-settled') &&
      Date.now() < settledBy
    )
      await new Promise((resolve) => setTimeout(resolve, 100));
    const afterRestart = set.peers[0]!.events(logBeforeKill);
    expect(afterRestart.filter((e) => e.event === 'round-joined')).toEqual([]);
    expect(afterRestart.filter((e) => e.event === 'update-settled')).toMatchObject([
      { round: round.roundId, included: true },
    ]);
    await expectSumOf(round.roundId, updates, [1, 2, 3, 4]);
  }, 150_000);
});
