import { beforeAll, describe, expect, it } from '@jest/globals';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import type { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../support/consortium.ts';
import {
  quantizedInputs,
  secAggParams,
  statusOf,
  sumOf,
  withCoordinator,
} from './fault-harness.ts';

const NO_DEADLINES = {
  advertiseKeysMs: 0,
  shareKeysMs: 0,
  maskedInputMs: 0,
  consistencyCheckMs: 0,
  unmaskingMs: 0,
};

describe('fault: deadlines that only fit a fast, idle machine', () => {
  const world = withCoordinator(3, 'late');
  let admin: VeilsumClient;
  beforeAll(() => {
    admin = world.connect(ADMIN);
  });

  it('default deadlines grow with the dimension and the members instead of a flat minute', async () => {
    const small = await admin.openRound({
      ...secAggParams(world.consortium.members, 1, { dimension: 1_000 }),
      deadlines: NO_DEADLINES,
    });
    const large = await admin.openRound({
      ...secAggParams(world.consortium.members, 2, { dimension: 10_000_000 }),
      deadlines: NO_DEADLINES,
    });
    const masked = (round: typeof small) => round.params!.deadlines!.maskedInputMs;
    expect(masked(small)).toBeGreaterThanOrEqual(60_000);
    // d = 10^7 with two neighbours: 3·10^7 words to mask and 40 MB to send, on a slow machine.
    expect(masked(large)).toBeGreaterThanOrEqual(60_000 + (3 * 10_000_000) / 5_000 + 40_000);
    expect(masked(large)).toBeGreaterThan(masked(small));
  });

  it('a member that uploads after the deadline is a dropout of a round that still completes', async () => {
    const members = world.consortium.members.map((id) => world.connect(id));
    const round = await admin.openRound(
      secAggParams(world.consortium.members, 3, { maskedInputMs: 1_500 }),
    );
    const inputs = quantizedInputs(3, 1_000, 21);
    const [first, second, late] = await Promise.all(
      members.map((client, i) =>
        statusOf(
          client.participateQuantized(round, inputs[i]!, i === 2 ? { delayUploadMs: 4_000 } : {}),
        ),
      ),
    );
    expect([first!.code, second!.code]).toEqual(['OK', 'OK']);
    expect(late!.code).toBe('FAILED_PRECONDITION');
    expect(late!.details).toMatch(/upload deadline has passed|is already done/);
    const finished = await admin.getRound(round.roundId);
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    expect(finished.included).toEqual([1, 2]);
    expect(await admin.getAggregate(round.roundId)).toEqual(sumOf(inputs, [1, 2]));
  }, 60_000);
});
