import { describe, expect, it } from '@jest/globals';
import type { CollectiveKeyRecord } from '../../ledger/records.ts';
import { checkCkksKeyholders } from '../../sdk/ckks-round-verification.ts';

/**
 * REVIEW (keyholder pin): `pki init` pins the consortium's keyholders in every member profile
 * ("a key attested by any other set is refused"), but checkCkksKeyholders only checks that each
 * participant is IN the pinned list and that the threshold is ≥ 2. A consortium of 5 keyholders
 * run 3-of-5 tolerates 2 colluders; those 2 (with the coordinator, who opens the round) attest a
 * 2-of-2 key they made between themselves — no honest keyholder is asked — and every member
 * encrypts under a key the two colluders decrypt alone.
 */
const PINNED = ['kh-1', 'kh-2', 'kh-3', 'kh-4', 'kh-5'];
const roles = new Map(PINNED.map((id) => [id, ['keyholder'] as readonly string[]]));

describe('REVIEW: the keyholder pin accepts a key held by a colluding subset of the pinned set', () => {
  it('refuses a 2-of-2 key attested by two of the five pinned keyholders', () => {
    const colluders = {
      keySha256: 'e'.repeat(64),
      ceremonyId: 'two-colluders',
      threshold: 2,
      participants: ['kh-1', 'kh-2'],
      registeredAt: new Date().toISOString(),
    } as unknown as CollectiveKeyRecord;
    let outcome: unknown = 'accepted';
    try {
      checkCkksKeyholders(colluders, roles, { pinnedKeyholders: PINNED });
    } catch (error) {
      outcome = error;
    }

    console.log(
      `member's check of a 2-of-2 key held by kh-1, kh-2 (pinned: 5): ${String(outcome)}`,
    );
    expect(outcome).not.toBe('accepted');
  });
});
