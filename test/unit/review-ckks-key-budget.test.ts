import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floodingSigmaFor, KEY_KL_BUDGET, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { assertKeyBudget, DecryptionLog } from '../../services/keyholder/decryption-log.ts';
import { type LedgerIdentities, ledgerIdentities } from '../support/ledger-identities.ts';

/**
 * REVIEW (ckks budget): the per-key budget on the ledger takes a keyholder's recorded figures
 * (kl, ciphertexts) and the limits (keyLifeRounds, klBudget) from the caller, and does not bind
 * the round to the key. One colluding keyholder (t − 1 are allowed) records a charge of KL 1 for
 * any closed round — one it never decrypted, even a round under another key — and every honest
 * keyholder, which sums all keyholders' records at face value, then refuses every decryption
 * under the key: the key is dead from one transaction.
 */
const HASH_A = 'a'.repeat(64);
const KEY = 'c'.repeat(64);
const OTHER_KEY = 'd'.repeat(64);
let identities: LedgerIdentities;
beforeAll(async () => {
  identities = await ledgerIdentities(['CoordinatorMSP', 'BankAMSP', 'HonestMSP', 'ColluderMSP']);
});

describe('REVIEW: one colluding keyholder exhausts the key budget with an inflated record', () => {
  it('an honest keyholder still decrypts a fresh round after a colluder records KL 1 on a round it never decrypted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'review-ckks-budget-'));
    const database = new EmbeddedLedgerDatabase(join(dir, 'ledger.db'), identities.caPem);
    const as = (msp: string) => new Ledger(database.as(identities.writer(msp)));
    const coordinator = as('CoordinatorMSP');
    await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
    await coordinator.registerMember('BankAMSP', ['member']);
    const holders = ['HonestMSP', 'ColluderMSP'];
    for (const h of holders) await coordinator.registerMember(h, ['keyholder']);
    for (const h of holders) await as(h).attestCollectiveKey(KEY, 'k', 2, holders);
    for (const h of holders) await as(h).attestCollectiveKey(OTHER_KEY, 'other', 2, holders);
    await as('BankAMSP').grantConsent('c1', 'cards', 'fraud-model', Date.now() + 86_400_000);
    // round-1: a round (nominally under the OTHER key: the ledger cannot tell); round-2: under KEY.
    for (const [n, aggregate] of ['1'.repeat(64), '2'.repeat(64)].entries()) {
      await coordinator.openRound(`r-${n + 1}`, 'fraud-model', n + 1, HASH_A, ['BankAMSP']);
      await coordinator.closeRound(`r-${n + 1}`, ['BankAMSP'], HASH_A, aggregate, 0);
    }
    // The colluder records for KEY a decryption of round-1 it never made, with KL 1 and its own
    // limits (the contract takes klBudget from the caller).
    const forged = await as('ColluderMSP').recordKeyDecryption(
      KEY,
      '1'.repeat(64),
      'r-1',
      { ciphertexts: 2 ** 31, contributors: 1, kl: 1 },
      { keyLifeRounds: 2 ** 31, klBudget: 1 },
    );
    expect(forged.kl).toBe(1);

    // The honest keyholder's own check (keyholder.ts → assertKeyBudget) over all records.
    const sigma = floodingSigmaFor(SUM_8192, 2, 5e-5);
    const log = new DecryptionLog(join(dir, 'honest.log'));
    const recorded = await as('HonestMSP').keyDecryptions(KEY);
    const check = () =>
      assertKeyBudget(
        log,
        recorded,
        KEY,
        { set: SUM_8192, sigma, keyholders: 2, keyLifeRounds: 1000 },
        { round: 'r-2', aggregate: '2'.repeat(64), ciphertexts: 3, contributors: 1 },
      );
    let refusal: unknown;
    try {
      check();
    } catch (error) {
      refusal = error;
    }
    // eslint-disable-next-line no-console
    console.log(`honest keyholder's budget check after the colluder's record: ${String(refusal ?? 'allowed')}`);
    expect(refusal).toBeUndefined();
    // And the contract, with the honest keyholder's real limits.
    await expect(
      as('HonestMSP').recordKeyDecryption(
        KEY,
        '2'.repeat(64),
        'r-2',
        { ciphertexts: 3, contributors: 1, kl: 2 ** -60 },
        { keyLifeRounds: 1000, klBudget: KEY_KL_BUDGET },
      ),
    ).resolves.toMatchObject({ keyholder: 'HonestMSP' });
    database.close();
  });
});
