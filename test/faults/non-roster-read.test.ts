import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import type { Coordinator } from '../../services/coordinator/coordinator.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { startCoordinator, quantizedInputs, secAggParams, statusOf } from './fault-harness.ts';

describe('fault: a member reads a round it is not on', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  const clients: VeilsumClient[] = [];
  beforeAll(async () => {
    consortium = await createConsortium(4, 'roster');
    coordinator = await startCoordinator(consortium.config);
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await coordinator.stop();
  });

  it('GetRound, WatchRound and GetAggregate answer PERMISSION_DENIED and ListRounds leaves the round out', async () => {
    const connect = (id: string) => {
      const client = VeilsumClient.connect({
        ...consortium.profile(id, coordinator.port),
        retry: { totalMs: 1_000, initialDelayMs: 50, maxDelayMs: 100 },
      });
      clients.push(client);
      return client;
    };
    const admin = connect(ADMIN);
    const roster = consortium.members.slice(0, 3);
    const members = roster.map(connect);
    const outsider = connect(consortium.members[3]!);
    const round = await admin.openRound(secAggParams(roster, 1));
    const inputs = quantizedInputs(3, 1_000, 9);
    await Promise.all(members.map((m, i) => m.participateQuantized(round, inputs[i]!)));

    for (const read of [
      () => outsider.getRound(round.roundId),
      () => outsider.waitForResult(round.roundId),
      () => outsider.getAggregate(round.roundId),
    ]) {
      const result = await statusOf(read());
      expect(result.code).toBe('PERMISSION_DENIED');
      expect(result.details).toContain(`is not a member of round ${round.roundId}`);
    }
    expect(await outsider.listRounds()).toEqual([]);
    // Those on the roster and administrators still read it.
    expect((await members[0]!.getRound(round.roundId)).roundId).toBe(round.roundId);
    expect((await admin.listRounds()).map((r) => r.roundId)).toEqual([round.roundId]);
  }, 60_000);
});
