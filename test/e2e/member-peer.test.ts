import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { UpdateState, type MemberServiceClient } from '../../proto/gen/veilsum/v1/member.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../support/consortium.ts';
import {
  getResult,
  headerFor,
  memberClient,
  type MemberPeerSet,
  secAggRoundParams,
  startMemberPeers,
  submitUpdate,
  watchUntil,
} from '../support/member-peers.ts';

const DIMENSION = 1_000;

function updateOf(seed: number): Float32Array {
  const values = new Float32Array(DIMENSION);
  for (let i = 0; i < DIMENSION; i++) values[i] = Math.sin(seed * 1000 + i) * 1.5;
  return values;
}

const final = (update: { state: number }) =>
  update.state === UpdateState.UPDATE_STATE_INCLUDED ||
  update.state === UpdateState.UPDATE_STATE_DROPPED;

describe("a bank's aggregation peer (veilsum member start) on real processes", () => {
  let set: MemberPeerSet;
  let admin: VeilsumClient;
  const clients: MemberServiceClient[] = [];
  const scientistOf = (i: number) => {
    const client = memberClient(set.peers[i]!, set.peers[i]!.callers.scientist);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    set = await startMemberPeers({ members: 3 });
    admin = VeilsumClient.connect(set.consortium.profile(ADMIN, set.coordinator.port));
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    admin?.close();
    await set?.stop();
  });

  it('three banks submit over MemberService; the SecAgg round sums them and GetResult gives the float sum', async () => {
    const members = set.consortium.members;
    // Queued before the round exists: each waits for the model's next round listing its bank.
    const updates = [1, 2, 3].map(updateOf);
    const submitted = await Promise.all(
      updates.map((values, i) =>
        submitUpdate(scientistOf(i), values, headerFor(values, { modelId: 'fraud' })),
      ),
    );
    for (const response of submitted)
      expect(response.update).toMatchObject({
        state: UpdateState.UPDATE_STATE_QUEUED,
        values: DIMENSION,
      });
    const round = await admin.openRound(secAggRoundParams(members, 'fraud', 1, DIMENSION));
    const watched = await Promise.all(
      submitted.map((response, i) => watchUntil(scientistOf(i), response.update!.updateId, final)),
    );
    for (const states of watched) {
      expect(states.map((u) => u.state)).toContain(UpdateState.UPDATE_STATE_IN_ROUND);
      expect(states.at(-1)).toMatchObject({
        state: UpdateState.UPDATE_STATE_INCLUDED,
        roundId: round.roundId,
      });
    }
    const { header, sum } = await getResult(scientistOf(0), round.roundId);
    expect(header).toMatchObject({
      roundId: round.roundId,
      modelId: 'fraud',
      contributors: 3,
      values: DIMENSION,
    });
    const exact = Array.from(
      { length: DIMENSION },
      (_, i) => updates[0]![i]! + updates[1]![i]! + updates[2]![i]!,
    );
    // Stochastic rounding: each contribution is within one quantisation step.
    expect(header.errorBound).toBeCloseTo((3 * 2 * 4) / 65535, 10);
    let worst = 0;
    for (let i = 0; i < DIMENSION; i++) worst = Math.max(worst, Math.abs(sum[i]! - exact[i]!));
    expect(worst).toBeLessThanOrEqual(header.errorBound);
    expect(worst).toBeGreaterThan(0);
  }, 120_000);
});
