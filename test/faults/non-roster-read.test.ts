import { describe, expect, it } from '@jest/globals';
import { ADMIN } from '../support/consortium.ts';
import { quantizedInputs, secAggParams, statusOf, withCoordinator } from './fault-harness.ts';

describe('fault: a member reads a round it is not on', () => {
  const world = withCoordinator(4, 'roster');

  it('GetRound, WatchRound and GetAggregate answer PERMISSION_DENIED and ListRounds leaves the round out', async () => {
    const { consortium } = world;
    const connect = (id: string) =>
      world.connect(id, { retry: { totalMs: 1_000, initialDelayMs: 50, maxDelayMs: 100 } });
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
