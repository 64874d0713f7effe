import { describe, expect, it } from '@jest/globals';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import {
  absentMembers,
  cleanDeclineReason,
  MAX_DECLINE_REASON_CHARS,
  onlyDeclinedAreSilent,
  type Decline,
} from '../../services/coordinator/round-declines.ts';

const roster = ['bank-a', 'bank-b', 'bank-c'].map((memberId, i) => ({ memberId, index: i + 1 }));

describe('round declines', () => {
  it("a member's reason reaches other terminals as one bounded line without escape sequences", () => {
    expect(cleanDeclineReason('policy\u001b[2J\u001b]0;owned\u0007 refused\nsecond line')).toBe(
      'policy [2J ]0;owned  refused second line',
    );
    expect(cleanDeclineReason('  \n ')).toBe('no reason given');
    const long = cleanDeclineReason('x'.repeat(10_000));
    expect(long).toHaveLength(MAX_DECLINE_REASON_CHARS + 1);
    expect(long.endsWith('…')).toBe(true);
  });

  it('names each absent member once, at the phase it dropped, with the reason known', () => {
    const declines = new Map<number, Decline>([
      [3, { by: 'coordinator', reason: 'consent c-3 was revoked' }],
    ]);
    const absent = absentMembers(
      roster,
      [
        {
          phase: Phase.PHASE_ADVERTISE_KEYS,
          expected: [1, 2, 3],
          spoke: new Set([1, 2]),
          closed: true,
        },
        { phase: Phase.PHASE_SHARE_KEYS, expected: [1, 2], spoke: new Set([1]), closed: false },
      ],
      declines,
    );
    expect(absent).toEqual([
      {
        index: 3,
        memberId: 'bank-c',
        phase: Phase.PHASE_ADVERTISE_KEYS,
        reason: 'refused by the coordinator: consent c-3 was revoked',
      },
      { index: 2, memberId: 'bank-b', phase: Phase.PHASE_SHARE_KEYS, reason: 'no message yet' },
    ]);
  });

  it('closes a phase early only when every silent member declined', () => {
    const open = (spoke: number[]) => ({
      phase: Phase.PHASE_ADVERTISE_KEYS,
      expected: [1, 2, 3],
      spoke: new Set(spoke),
      closed: false,
    });
    const declined = new Map<number, Decline>([[3, { by: 'member', reason: 'policy' }]]);
    expect(onlyDeclinedAreSilent(open([1, 2]), declined)).toBe(true);
    expect(onlyDeclinedAreSilent(open([1]), declined)).toBe(false);
    expect(onlyDeclinedAreSilent(open([1, 2]), new Map())).toBe(false);
    // Declined after speaking: nothing to stop waiting for (everyone spoke closes it).
    expect(onlyDeclinedAreSilent(open([1, 2, 3]), declined)).toBe(false);
  });
});
