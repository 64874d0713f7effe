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

describe('embedded ledger file format', () => {
  const open = (path: string) => new EmbeddedLedgerDatabase(path, identities.caPem);
  async function refusedFile(version: number): Promise<string> {
    const path = freshPath();
    const database = open(path);
    await new Ledger(database.as(identities.writer('CoordinatorMSP'))).registerMember(
      'CoordinatorMSP',
      ['coordinator'],
    );
    database.close();
    const raw = new Database(path);
    expect(raw.pragma('user_version', { simple: true })).toBe(2);
    // A block as a veilsum from before signed blocks wrote it: no signature.
    raw.prepare('UPDATE blocks SET signature = NULL WHERE number = 1').run();
    raw.pragma(`user_version = ${version}`);
    raw.close();
    return path;
  }

  it('names the file and what to do when a file with no format version does not verify', async () => {
    const path = await refusedFile(0);
    expect(() => open(path)).toThrow(
      new RegExp(
        `block 1 is not signed by its writer CoordinatorMSP; refusing to use it\\. ${path} carries no ledger format version: .* no command converts it .* run 'veilsum ledger init --config <coordinator config>'`,
      ),
    );
    const audit = EmbeddedLedgerDatabase.inspect(path, identities.caPem);
    expect(audit.ok === false && audit.reason).toMatch(/carries no ledger format version/);
  });

  it('gives no old-format hint for a current file, and marks a verified old file current', async () => {
    const current = await refusedFile(2);
    expect(() => open(current)).toThrow(
      /block 1 is not signed by its writer CoordinatorMSP; refusing to use it$/,
    );
    // A file with no version that verifies in full is of the current format from then on.
    const path = freshPath();
    open(path).close();
    const raw = new Database(path);
    raw.pragma('user_version = 0');
    raw.close();
    open(path).close();
    const reopened = new Database(path);
    expect(reopened.pragma('user_version', { simple: true })).toBe(2);
    reopened.close();
  });
});
