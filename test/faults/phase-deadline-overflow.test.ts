import { beforeAll, describe, expect, it } from '@jest/globals';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../support/consortium.ts';
import { withCoordinator, secAggParams, statusOf } from './fault-harness.ts';

describe('fault: a phase deadline longer than Node timers hold (2^31 ms)', () => {
  const env = withCoordinator(3, 'timer');
  let admin: VeilsumClient;
  beforeAll(() => {
    admin = env.connect(ADMIN);
  });

  it('a 25-day deadline keeps the phase open instead of aborting the round at once', async () => {
    const params = secAggParams(env.consortium.members, 1);
    const deadlineMs = 2 ** 31 + 5_000;
    const round = await admin.openRound({
      ...params,
      deadlines: { ...params.deadlines!, advertiseKeysMs: deadlineMs },
    });
    // The overflowing timer fired after ~1 ms; give it ample time to misfire.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const later = await admin.getRound(round.roundId);
    expect(later.phase).toBe(Phase.PHASE_ADVERTISE_KEYS);
    expect(later.abortReason).toBe('');
    expect(later.phaseDeadlineMs).toBe(later.openedAtMs + deadlineMs);
  });

  it('a deadline past the 30-day limit is refused INVALID_ARGUMENT', async () => {
    const params = secAggParams(env.consortium.members, 2);
    const refused = await statusOf(
      admin.openRound({ ...params, deadlines: { ...params.deadlines!, unmaskingMs: 4e9 } }),
    );
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.details).toContain('longer than the limit');
  });
});
