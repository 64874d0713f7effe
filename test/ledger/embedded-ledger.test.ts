import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { type LedgerIdentities, ledgerIdentities } from '../support/ledger-identities.ts';
import { describeLedgerContract } from './contract-suite.ts';

const freshPath = () => join(mkdtempSync(join(tmpdir(), 'veilsum-ledger-')), 'ledger.db');
const ORGANISATIONS = [
  'CoordinatorMSP',
  'BankAMSP',
  'BankBMSP',
  'BankCMSP',
  'AuditorMSP',
  'OutsiderMSP',
];
let identities: LedgerIdentities;
beforeAll(async () => {
  identities = await ledgerIdentities(ORGANISATIONS);
});

describeLedgerContract('the embedded SQLite ledger', () => {
  const database = new EmbeddedLedgerDatabase(freshPath(), identities.caPem);
  return Promise.resolve({
    connect: (mspId: string) => new Ledger(database.as(identities.writer(mspId))),
    gateway: (mspId: string) => database.as(identities.writer(mspId)),
    now: () => Date.now(),
  });
});

describe('embedded ledger chain', () => {
  const open = (path: string) => new EmbeddedLedgerDatabase(path, identities.caPem);
  const inspect = (path: string) => EmbeddedLedgerDatabase.inspect(path, identities.caPem);
  async function populated(): Promise<{ path: string; database: EmbeddedLedgerDatabase }> {
    const path = freshPath();
    const database = open(path);
    const coordinator = new Ledger(database.as(identities.writer('CoordinatorMSP')));
    const bank = new Ledger(database.as(identities.writer('BankAMSP')));
    await coordinator.registerMember('CoordinatorMSP', ['coordinator']);
    await coordinator.registerMember('BankAMSP', ['member']);
    await bank.grantConsent('consent-1', 'cards', 'fraud-model', Date.now() + 86_400_000);
    await bank.grantConsent('consent-2', 'loans', 'fraud-model', Date.now() + 86_400_000);
    return { path, database };
  }

  it('chains one block per transaction and verifies', async () => {
    const { database } = await populated();
    const blocks = database.blocks();
    expect(blocks.map((b) => b.number)).toEqual([1, 2, 3, 4]);
    expect(blocks[1]!.previousHash).toBe(blocks[0]!.hash);
    expect(database.verify()).toEqual({ ok: true, blocks: 4 });
  });

  it('a refused transaction adds no block and changes no state', async () => {
    const { database } = await populated();
    await expect(
      new Ledger(database.as(identities.writer('BankBMSP'))).revokeConsent('consent-1'),
    ).rejects.toThrow(/may not revoke/);
    expect(database.blocks()).toHaveLength(4);
    expect(database.verify().ok).toBe(true);
  });

  it('detects a tampered block row and names the block', async () => {
    const { path, database } = await populated();
    database.close();
    const raw = new Database(path);
    raw.prepare("UPDATE blocks SET args = replace(args, 'cards', 'carts') WHERE number = 3").run();
    raw.close();
    expect(() => open(path)).toThrow(
      /tampered with: block 3's contents do not match its hash; refusing to use it/,
    );
    expect(inspect(path)).toEqual({
      ok: false,
      blocks: 4,
      block: 3,
      reason: "block 3's contents do not match its hash",
    });
  });

  it('detects a tampered state row and names the block that wrote it', async () => {
    const { path, database } = await populated();
    database.close();
    const raw = new Database(path);
    raw
      .prepare(
        `UPDATE state SET value = replace(value, '"loans"', '"mortgages"') WHERE key = 'consent/consent-2'`,
      )
      .run();
    raw.close();
    const result = inspect(path);
    expect(result).toMatchObject({ ok: false, block: 4 });
    expect(result.ok ? '' : result.reason).toMatch(/state key consent\/consent-2 does not match/);
  });

  it('detects a deleted block (broken link)', async () => {
    const { path, database } = await populated();
    database.close();
    const raw = new Database(path);
    raw.prepare('DELETE FROM blocks WHERE number = 2').run();
    raw.close();
    expect(inspect(path)).toMatchObject({ ok: false, block: 3 });
  });

  it('emits chaincode-style events for consent and round changes', async () => {
    const { database } = await populated();
    const seen: string[] = [];
    database.onEvent((event, block) => seen.push(`${block}:${event.name}`));
    await new Ledger(database.as(identities.writer('BankAMSP'))).revokeConsent('consent-1');
    expect(seen).toEqual(['5:ConsentRevoked']);
  });
});
