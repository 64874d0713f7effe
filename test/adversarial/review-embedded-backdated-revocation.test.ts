import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLedgerDatabase, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';

/**
 * Review of branch ledger-contract (attacker's view): on the embedded ledger each block's time is
 * its writer's clock, and neither the contract nor the replay compares it with the blocks before.
 * A member revokes its consent after a round that used it was opened, stamping the revocation
 * before that opening: the chain verifies, and its history says the round used a revoked consent.
 */
let directory: string;
let pki: DevPki;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'veilsum-review-backdate-'));
  pki = await createDevPki(join(directory, 'pki'), ['bank-a', 'bank-b']);
}, 60_000);

afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('review: embedded ledger block times are the writer’s own clock', () => {
  it('a revocation stamped before a round that was opened earlier on the chain', async () => {
    const path = join(directory, 'ledger.db');
    const database = new EmbeddedLedgerDatabase(path, readFileSync(pki.caCertificatePath));
    try {
      const writer = (id: { certificatePath: string; privateKeyPath: string }) =>
        ledgerWriter(id.certificatePath, id.privateKeyPath);
      const coordinator = new Ledger(database.as(writer(pki.server)));
      await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
      await coordinator.registerMember('bank-a', ['member']);
      await coordinator.registerMember('bank-b', ['member']);
      const inAYear = Date.now() + 365 * 86_400_000;
      const bankA = new Ledger(database.as(writer(pki.members['bank-a']!)));
      await bankA.grantConsent('a-1', 'cards', 'fraud', inAYear);
      await new Ledger(database.as(writer(pki.members['bank-b']!))).grantConsent(
        'b-1',
        'loans',
        'fraud',
        inAYear,
      );
      const round = await coordinator.openRound('fraud/round-1', 'fraud', 1, 'a'.repeat(64), [
        'bank-a',
        'bank-b',
      ]);
      expect(round.consents.map((c) => c.consentId)).toEqual(['a-1', 'b-1']);

      // bank-a revokes afterwards, with its clock set 30 s before the round opened.
      const backdated = new Ledger(
        database.as(writer(pki.members['bank-a']!), () => round.openedAt - 30_000),
      );
      let revokedAt: number | null = null;
      try {
        revokedAt = (await backdated.revokeConsent('a-1')).revokedAt;
      } catch {
        revokedAt = null; // refused: fine
      }
      const verified = database.verify();
      // Either the revocation is refused, or it carries a time not before the round it follows,
      // or the replay flags the chain.
      if (revokedAt !== null && verified.ok)
        expect(revokedAt).toBeGreaterThanOrEqual(round.openedAt);
    } finally {
      database.close();
    }
  });
});
