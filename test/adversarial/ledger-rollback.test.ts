import { afterEach, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  EmbeddedLedgerDatabase,
  LedgerRolledBackError,
  ledgerWriter,
} from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';

/**
 * Attack: the owner of the embedded ledger file rolls it back — drops its last blocks (a bank's
 * revocation among them, with the state table recomputed to match) or restores an older copy.
 * Every remaining block is genuine, so hashes, links, signatures and the contract all verify:
 * only a head seen before can tell. The bank that revoked (its checkpoint beside its profile),
 * an auditor holding a head file, an auditor holding the head the bank exported signed, and a
 * process that had the file open must all refuse, naming both heads.
 */
let directory: string | undefined;
afterEach(() => {
  if (directory) rmSync(directory, { recursive: true, force: true });
  directory = undefined;
});

function veilsum(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['cli/veilsum.ts', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

interface Scenario {
  readonly path: string;
  readonly pki: DevPki;
  readonly profile: string;
  /** A consistent copy of the file taken before the bank revoked (head: block 4). */
  readonly older: string;
  readonly auditorHead: string;
  readonly signedHead: string;
  readonly revocationBlock: number;
  readonly head: { number: number; hash: string };
}

/**
 * Three registrations by the coordinator, bank-2's grant and revocation through the CLI with
 * its profile, an auditor's verify-chain with a head file, bank-2's signed head, and one more
 * coordinator block.
 */
async function scenario(): Promise<Scenario> {
  directory = mkdtempSync(join(tmpdir(), 'veilsum-rollback-'));
  const pki = await createDevPki(join(directory, 'pki'), ['bank-1', 'bank-2']);
  const path = join(directory, 'ledger.db');
  const ca = readFileSync(pki.caCertificatePath);
  const coordinatorWriter = ledgerWriter(pki.server.certificatePath, pki.server.privateKeyPath);
  let database = new EmbeddedLedgerDatabase(path, ca);
  const coordinator = new Ledger(database.as(coordinatorWriter));
  await coordinator.registerMember('veilsum-coordinator', ['coordinator', 'auditor']);
  await coordinator.registerMember('bank-1', ['member']);
  await coordinator.registerMember('bank-2', ['member']);
  database.close();
  const profile = join(directory, 'bank-2.profile.json');
  writeFileSync(
    profile,
    JSON.stringify({
      address: '127.0.0.1:1',
      caCertificate: pki.caCertificatePath,
      certificate: pki.members['bank-2']!.certificatePath,
      privateKey: pki.members['bank-2']!.privateKeyPath,
    }),
  );
  const member = (command: string, ...args: string[]) =>
    veilsum(['consent', command, '--ledger', path, '--profile', profile, ...args]);
  expect(
    await member('grant', '--consent', 'c-2', '--dataset', 'cards', '--purpose', 'fraud'),
  ).toMatchObject({ code: 0 });
  const older = join(directory, 'older.db');
  const raw = new Database(path);
  raw.exec(`VACUUM INTO '${older}'`);
  raw.close();
  expect(await member('revoke', '--consent', 'c-2')).toMatchObject({ code: 0 });

  const auditorHead = join(directory, 'auditor-head.json');
  const audit = await veilsum([
    'audit',
    'verify-chain',
    '--ledger',
    path,
    '--ca',
    pki.caCertificatePath,
    '--checkpoint',
    auditorHead,
  ]);
  expect(audit).toMatchObject({ code: 0 });
  expect(audit.stdout).toMatch(/chain intact: 5 blocks/);
  const signedHead = join(directory, 'bank-2-head.json');
  const exported = await veilsum([
    'audit',
    'export-head',
    '--ledger',
    path,
    '--profile',
    profile,
    '--out',
    signedHead,
  ]);
  expect(exported).toMatchObject({ code: 0 });
  expect(exported.stdout).toMatch(/head block 5 \(hash [0-9a-f]{16}…\) signed by bank-2/);

  database = new EmbeddedLedgerDatabase(path, ca);
  await new Ledger(database.as(coordinatorWriter)).registerMember('bank-1', ['member']);
  const head = await new Ledger(database.reader('veilsum-coordinator')).head();
  database.close();
  return {
    path,
    pki,
    profile,
    older,
    auditorHead,
    signedHead,
    revocationBlock: 5,
    head: head!,
  };
}

/** Drops every block from `from` on and recomputes the state table from the blocks left. */
function dropTail(path: string, from: number): void {
  const db = new Database(path);
  db.prepare('DELETE FROM blocks WHERE number >= ?').run(from);
  db.exec('DELETE FROM state');
  const upsert = db.prepare(
    'INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  for (const row of db.prepare('SELECT writes FROM blocks ORDER BY number').all() as {
    writes: string;
  }[])
    for (const [key, value] of JSON.parse(row.writes) as [string, string][]) upsert.run(key, value);
  db.close();
}

async function expectRefusedByEveryone(s: Scenario, fileHead: number): Promise<void> {
  const notExtending = (verified: number) =>
    `does not extend the head verified before, block ${verified} \\(hash [0-9a-f]{16}…\\): its head is block ${fileHead} \\(hash [0-9a-f]{16}…\\) — blocks were dropped or an older copy restored`;

  // Without a head to compare, the rolled-back file verifies: every block in it is genuine.
  const blind = await veilsum([
    'audit',
    'verify-chain',
    '--ledger',
    s.path,
    '--ca',
    s.pki.caCertificatePath,
  ]);
  expect(blind).toMatchObject({ code: 0 });
  expect(blind.stdout).toMatch(new RegExp(`chain intact: ${fileHead} blocks`));

  // The bank that revoked: its next transaction is refused (its checkpoint is at the revocation).
  const bank = await veilsum([
    'consent',
    'grant',
    '--ledger',
    s.path,
    '--profile',
    s.profile,
    '--consent',
    'c-3',
    '--dataset',
    'cards',
    '--purpose',
    'fraud',
  ]);
  expect(bank.code).toBe(1);
  expect(bank.stderr).toMatch(new RegExp(notExtending(s.revocationBlock)));

  // An auditor with its head file, and one holding the bank's signed head.
  for (const checkpoint of [s.auditorHead, s.signedHead]) {
    const audit = await veilsum([
      'audit',
      'verify-chain',
      '--ledger',
      s.path,
      '--ca',
      s.pki.caCertificatePath,
      '--checkpoint',
      checkpoint,
    ]);
    expect(audit.code).toBe(2);
    expect(audit.stdout).toMatch(
      new RegExp(
        `chain BROKEN at block ${s.revocationBlock}: it ${notExtending(s.revocationBlock)}`,
      ),
    );
  }
  // The auditor's head file was not moved back.
  expect(JSON.parse(readFileSync(s.auditorHead, 'utf8'))).toMatchObject({ number: 5 });
}

describe('attack: the ledger owner rolls the embedded ledger back', () => {
  it('a tail dropped (the bank’s revocation with it) is refused by the bank, by auditors holding a head, and by a process that had the file open', async () => {
    const s = await scenario();
    const checkpoint = join(directory!, 'running.ledger-heads.json');
    const running = new EmbeddedLedgerDatabase(s.path, readFileSync(s.pki.caCertificatePath), {
      checkpoint,
    });
    try {
      dropTail(s.path, s.revocationBlock);
      const read = new Ledger(running.reader('veilsum-coordinator')).getMember('bank-2');
      await expect(read).rejects.toThrow(LedgerRolledBackError);
      await expect(read).rejects.toThrow(
        new RegExp(
          `does not extend the head verified before, block ${s.head.number} \\(hash ${s.head.hash.slice(0, 16)}…\\): its head is block 4`,
        ),
      );
    } finally {
      running.close();
    }
    // Reopened by that process later: its checkpoint still holds the head it verified.
    expect(
      () =>
        new EmbeddedLedgerDatabase(s.path, readFileSync(s.pki.caCertificatePath), { checkpoint }),
    ).toThrow(/does not extend the head verified before, block 6/);
    await expectRefusedByEveryone(s, 4);
  }, 180_000);

  it('an older copy of the file restored is refused by the bank and by auditors holding a head', async () => {
    const s = await scenario();
    copyFileSync(s.older, s.path);
    rmSync(`${s.path}-wal`, { force: true });
    rmSync(`${s.path}-shm`, { force: true });
    await expectRefusedByEveryone(s, 4);
  }, 180_000);
});
