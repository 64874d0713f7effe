import { describe, expect, it } from '@jest/globals';
import type { CollectiveKeyRecord } from '../../ledger/records.ts';
import { checkCkksKeyholders } from '../../sdk/ckks-round-verification.ts';
import { testKeyLimits } from '../support/ckks-keys.ts';

/** A member's check of who holds a CKKS round's key (sdk/ckks-round-verification.ts). */
const key = (threshold: number, participants: string[]): CollectiveKeyRecord => ({
  keySha256: 'ab'.repeat(32),
  ceremonyId: 'c-1',
  threshold,
  participants,
  attestedBy: participants,
  registeredAt: 1,
  limits: testKeyLimits(threshold),
});
const roles = (entries: Record<string, string[] | undefined>) => new Map(Object.entries(entries));
const holders = roles({ 'kh-a': ['keyholder'], 'kh-b': ['keyholder'], 'kh-c': ['keyholder'] });

describe('who holds the round key, by the member’s policy', () => {
  it('takes a 2-of-3 key of registered keyholders under the default policy', () => {
    expect(() => checkCkksKeyholders(key(2, ['kh-a', 'kh-b', 'kh-c']), holders)).not.toThrow();
  });

  it.each([
    [
      'a key one keyholder decrypts alone',
      key(1, ['kh-a', 'kh-b']),
      holders,
      {},
      /decrypts with 1 of its 2 keyholders; this member takes keys that need at least 2/,
    ],
    [
      'a threshold under a raised floor',
      key(2, ['kh-a', 'kh-b', 'kh-c']),
      holders,
      { minimumKeyThreshold: 3 },
      /at least 3/,
    ],
    [
      'a holder outside the trusted list',
      key(2, ['kh-a', 'kh-b']),
      holders,
      { trustedKeyholders: ['kh-a', 'kh-c'] },
      /kh-b, who is not one of this member's trusted keyholders \(kh-a, kh-c\)/,
    ],
    [
      'a holder outside the keyholders its profile pins (pki init)',
      key(2, ['kh-a', 'kh-b']),
      holders,
      { pinnedKeyholders: ['kh-a', 'kh-c'] },
      /kh-b, who is not one of this member's keyholders pinned in its profile \(kh-a, kh-c\); it takes another keyholder set only once its own profile's keyholders change/,
    ],
    [
      'a holder not registered as keyholder',
      key(2, ['kh-a', 'bank-1']),
      roles({ 'kh-a': ['keyholder'], 'bank-1': ['member'] }),
      {},
      /bank-1, who is not a registered keyholder/,
    ],
    [
      'a holder unknown to the ledger',
      key(2, ['kh-a', 'ghost']),
      holders,
      {},
      /ghost, who is not a registered keyholder/,
    ],
    [
      'a holder that is also the coordinator (a ledger from before the contract forbade it)',
      key(2, ['kh-a', 'op']),
      roles({ 'kh-a': ['keyholder'], op: ['coordinator', 'keyholder'] }),
      {},
      /op, which also holds the coordinator role/,
    ],
    [
      'a holder that is also an auditor',
      key(2, ['kh-a', 'au']),
      roles({ 'kh-a': ['keyholder'], au: ['keyholder', 'auditor'] }),
      {},
      /au, which also holds the auditor role/,
    ],
  ])('refuses %s', (_, record, known, policy, message) => {
    expect(() => checkCkksKeyholders(record, known, policy)).toThrow(message);
  });

  it("takes keys of the whole pinned set with a majority threshold, and the member's own trusted list replaces the pin", () => {
    const pinned = { pinnedKeyholders: ['kh-a', 'kh-b', 'kh-c'] };
    expect(() =>
      checkCkksKeyholders(key(2, ['kh-a', 'kh-b', 'kh-c']), holders, pinned),
    ).not.toThrow();
    // A subset of the pinned set (two keyholders the consortium tolerates as colluders could
    // make a key between themselves) and a minority threshold are refused.
    expect(() => checkCkksKeyholders(key(2, ['kh-a', 'kh-c']), holders, pinned)).toThrow(
      /was made without kh-b/,
    );
    expect(() =>
      checkCkksKeyholders(key(1, ['kh-a', 'kh-b', 'kh-c']), holders, {
        ...pinned,
        minimumKeyThreshold: 1,
      }),
    ).toThrow(/at least 2|majority/);
    const outside = key(2, ['kh-a', 'kh-d']);
    const known = roles({ 'kh-a': ['keyholder'], 'kh-d': ['keyholder'] });
    expect(() => checkCkksKeyholders(outside, known, pinned)).toThrow(/pinned in its profile/);
    expect(() =>
      checkCkksKeyholders(outside, known, { ...pinned, trustedKeyholders: ['kh-a', 'kh-d'] }),
    ).not.toThrow();
  });
});
