import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptionKl, KEY_KL_BUDGET, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { KeyDecryptionRecord } from '../../ledger/records.ts';
import { assertKeyBudget, DecryptionLog } from '../../services/keyholder/decryption-log.ts';
import { ckksTestManifest, testKeyLimits } from '../support/ckks-keys.ts';
import { type LedgerIdentities, ledgerIdentities } from '../support/ledger-identities.ts';

/**
 * REVIEW (ckks budget): the per-key budget on the ledger took a keyholder's recorded figures
 * (kl, ciphertexts) and the limits (keyLifeRounds, klBudget) from the caller, and did not bind
 * the round to the key. One colluding keyholder (t − 1 are allowed) recorded a charge of KL 1 for
 * any closed round — one it never decrypted, even a round under another key — and every honest
 * keyholder, which summed all keyholders' records at face value, then refused every decryption
 * under the key: the key was dead from one transaction.
 *
 * Defence (ledger/key-budget.ts): the limits are what every keyholder attested with the key; a
 * record names a round opened under the key and closed with the aggregate, with exactly the
 * ciphertexts its dimension takes and its included contributors; the contract computes the KL
 * charge, and readers recompute it from the counts. The colluder plays here with the raw contract
 * gateway, passing the old inflated arguments the typed Ledger no longer offers.
 */
const HASH_A = 'a'.repeat(64);
const KEY = 'c'.repeat(64);
const OTHER_KEY = 'd'.repeat(64);
let identities: LedgerIdentities;
beforeAll(async () => {
  identities = await ledgerIdentities([
    'CoordinatorMSP',
    'BankAMSP',
    'BankBMSP',
    'HonestMSP',
    'ColluderMSP',
  ]);
});

/** A CKKS round of 3 · 8192 values under `ckksKeySha256`, two roster members. */
const manifest = (ckksKeySha256: string) => ckksTestManifest(ckksKeySha256, 2, 3 * 8192);

describe('REVIEW: one colluding keyholder exhausts the key budget with an inflated record', () => {
  it('an honest keyholder still decrypts a fresh round after a colluder records inflated figures', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'review-ckks-budget-'));
    const database = new EmbeddedLedgerDatabase(join(dir, 'ledger.db'), identities.caPem);
    try {
      const as = (msp: string) => new Ledger(database.as(identities.writer(msp)));
      const coordinator = as('CoordinatorMSP');
      await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
      const members = ['BankAMSP', 'BankBMSP'];
      for (const m of members) await coordinator.registerMember(m, ['member']);
      const holders = ['HonestMSP', 'ColluderMSP'];
      for (const h of holders) await coordinator.registerMember(h, ['keyholder']);
      const limits = testKeyLimits(2, 1000);
      for (const h of holders) await as(h).attestCollectiveKey(KEY, 'k', 2, holders, limits);
      for (const h of holders)
        await as(h).attestCollectiveKey(OTHER_KEY, 'other', 2, holders, limits);
      for (const m of members)
        await as(m).grantConsent(`c-${m}`, 'cards', 'fraud-model', Date.now() + 86_400_000);
      // round-1 under the OTHER key, round-2 and round-3 under KEY.
      const rounds = [
        ['r-1', OTHER_KEY, '1'.repeat(64)],
        ['r-2', KEY, '2'.repeat(64)],
        ['r-3', KEY, '3'.repeat(64)],
      ] as const;
      for (const [n, [round, ckksKey, aggregate]] of rounds.entries()) {
        await coordinator.openRound(
          round,
          'fraud-model',
          n + 1,
          HASH_A,
          members,
          manifest(ckksKey),
        );
        await coordinator.closeRound(round, members, HASH_A, aggregate, 0);
      }
      // The colluder runs any code: the raw gateway, with the old arguments (kl 1, its own
      // limits) after the counts.
      const colluder = database.as(identities.writer('ColluderMSP'));
      const forge = (aggregate: string, round: string, ciphertexts: number, contributors = 2) =>
        colluder.submit<KeyDecryptionRecord>('recordKeyDecryption', [
          KEY,
          aggregate,
          round,
          ciphertexts,
          contributors,
          1,
          2 ** 31,
          1,
        ]);
      // A round under another key: refused.
      await expect(forge('1'.repeat(64), 'r-1', 3)).rejects.toThrow(
        /round r-1 was not opened with a manifest under CKKS key cccccccccccccccc…/,
      );
      // More ciphertexts than the round's dimension takes, or other contributors: refused.
      await expect(forge('3'.repeat(64), 'r-3', 2 ** 31)).rejects.toThrow(
        /3 ciphertexts at sum-8192, not 2147483648/,
      );
      await expect(forge('3'.repeat(64), 'r-3', 3, 1)).rejects.toThrow(
        /closed with 2 contributors, not 1/,
      );
      // A real round under KEY: recorded, at the charge a real decryption of it costs; the
      // extra kl and limits are nobody's to name.
      const forged = await forge('3'.repeat(64), 'r-3', 3);
      const charge = decryptionKl(SUM_8192, limits.floodingSigma, 3, 2, 2);
      expect(forged.kl).toBe(charge);
      expect(charge).toBeLessThan(KEY_KL_BUDGET / 100);
      const key = await as('HonestMSP').getCollectiveKey(KEY);
      expect(key.limits).toEqual(limits);

      // The honest keyholder's own check (keyholder.ts → assertKeyBudget) over all records.
      const log = new DecryptionLog(join(dir, 'honest.log'));
      const recorded = await as('HonestMSP').keyDecryptions(KEY);
      const check = () =>
        assertKeyBudget(
          log,
          recorded,
          KEY,
          { set: SUM_8192, sigma: limits.floodingSigma, keyholders: 2, keyLifeRounds: 1000 },
          { round: 'r-2', aggregate: '2'.repeat(64), ciphertexts: 3, contributors: 2 },
        );
      let refusal: unknown;
      try {
        check();
      } catch (error) {
        refusal = error;
      }
      expect(refusal).toBeUndefined();
      // And the contract, with the key's attested limits.
      await expect(
        as('HonestMSP').recordKeyDecryption(KEY, '2'.repeat(64), 'r-2', {
          ciphertexts: 3,
          contributors: 2,
        }),
      ).resolves.toMatchObject({ keyholder: 'HonestMSP', kl: charge });
    } finally {
      database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
