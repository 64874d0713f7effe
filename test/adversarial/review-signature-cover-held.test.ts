import { afterAll, describe, expect, it } from '@jest/globals';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { signBlockHash } from '../../ledger/embedded/block-signature.ts';
import {
  blockHash,
  EmbeddedLedgerDatabase,
  LedgerTamperedError,
  type LedgerWriter,
  ledgerWriter,
} from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';

/**
 * Attacker review (review-a), attempts on the one-signature-per-writer open that HELD (these
 * pass on the code under review; kept as regression tests): a forged bank-1 block whose
 * certificate column is bank-1's certificate in another encoding (a BLOB, CRLF line ends), so
 * that the worker and the opening thread might disagree on "the same certificate"; and a
 * bank-1 holding two certificates (a CA rotation: both CAs are identity issuers) asked to
 * extend a chain holding a block forged under its other certificate.
 */
const directory = mkdtempSync(join(tmpdir(), 'veilsum-review-a-cover-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
let file = 0;

async function rotatedConsortium() {
  const a = await createDevPki(join(directory, `pki-a-${file}`), ['bank-1'], [], 'CN=CA A, O=dev');
  const b = await createDevPki(join(directory, `pki-b-${file}`), ['bank-1'], [], 'CN=CA B, O=dev');
  const bundle = Buffer.concat([
    readFileSync(a.caCertificatePath),
    readFileSync(b.caCertificatePath),
  ]);
  const server = ledgerWriter(a.server.certificatePath, a.server.privateKeyPath);
  const bank1a = ledgerWriter(
    a.members['bank-1']!.certificatePath,
    a.members['bank-1']!.privateKeyPath,
  );
  const bank1b = ledgerWriter(
    b.members['bank-1']!.certificatePath,
    b.members['bank-1']!.privateKeyPath,
  );
  const forged: LedgerWriter = {
    ...bank1a,
    privateKey: createPrivateKey(readFileSync(a.server.privateKeyPath)),
  };
  const path = join(directory, `ledger-${file++}.db`);
  const database = new EmbeddedLedgerDatabase(path, bundle);
  const coordinator = new Ledger(database.as(server));
  await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
  await coordinator.registerMember('bank-1', ['member']);
  await new Ledger(database.as(bank1a)).grantConsent('c-1', 'cards', 'fraud', Date.now() + 9e7);
  await new Ledger(database.as(bank1b)).grantConsent('c-2', 'cards', 'fraud', Date.now() + 9e7);
  // Block 5 "by bank-1" under its first certificate, signed with the coordinator's key.
  await new Ledger(database.as(forged)).revokeConsent('c-1');
  database.close();
  return { path, bundle, bank1a, bank1b, server, forged };
}

function openError(path: string, ca: Buffer): unknown {
  try {
    new EmbeddedLedgerDatabase(path, ca).close();
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('held: the one-signature open against encodings and rotations', () => {
  it('bank-1 with its second certificate does not extend a chain holding a block forged under its first', async () => {
    const { path, bundle, bank1b } = await rotatedConsortium();
    // bank-1's handle opened before block 5 was forged would be the only way past open: play
    // it by rolling block 5 out, opening, and putting it back.
    const db = new Database(path);
    const row = db.prepare('SELECT * FROM blocks WHERE number = 5').get() as Record<
      string,
      unknown
    >;
    const state = db.prepare('SELECT key, value FROM state').all() as {
      key: string;
      value: string;
    }[];
    db.close();
    const raw = new Database(path);
    raw.prepare('DELETE FROM blocks WHERE number = 5').run();
    // Block 5 revoked c-1: restore the consent row as block 3 wrote it.
    const before = JSON.parse(
      (
        JSON.parse(
          (raw.prepare('SELECT writes FROM blocks WHERE number = 3').get() as { writes: string })
            .writes,
        ) as [string, string][]
      ).find(([k]) => k === 'consent/c-1')![1],
    ) as Record<string, unknown>;
    raw
      .prepare('UPDATE state SET value = ? WHERE key = ?')
      .run(JSON.stringify(before), 'consent/c-1');
    raw.close();
    const bank = new EmbeddedLedgerDatabase(path, bundle);
    try {
      const put = new Database(path);
      const columns = Object.keys(row);
      put
        .prepare(
          `INSERT INTO blocks (${columns.join(',')}) VALUES (${columns.map(() => '?').join(',')})`,
        )
        .run(...columns.map((c) => row[c]));
      for (const { key, value } of state)
        put
          .prepare(
            'INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
          )
          .run(key, value);
      put.close();
      await expect(
        new Ledger(bank.as(bank1b)).grantConsent('c-3', 'cards', 'fraud', Date.now() + 9e7),
      ).rejects.toThrow(/block 5's signature does not verify under the certificate of bank-1/);
    } finally {
      bank.close();
    }
    expect(String(openError(path, bundle))).toMatch(/block 5's signature does not verify/);
  }, 60_000);

  for (const [name, encode] of [
    ['a BLOB of its PEM', (pem: string) => Buffer.from(pem)],
    ['its PEM with CRLF line ends', (pem: string) => pem.replace(/\n/g, '\r\n')],
  ] as const) {
    it(`a forged bank-1 block whose certificate is ${name}, re-hashed and re-linked, is refused on open`, async () => {
      const { path, bundle, forged } = await rotatedConsortium();
      const db = new Database(path);
      const row = db.prepare('SELECT * FROM blocks WHERE number = 5').get() as Record<
        string,
        unknown
      >;
      const certificate = encode(row.certificate as string);
      const hash = blockHash({
        number: 5,
        previousHash: row.previous_hash as string,
        timestamp: row.timestamp as number,
        caller: row.caller as string,
        certificate: certificate as unknown as string,
        fn: row.fn as string,
        args: JSON.parse(row.args as string) as unknown[],
        writes: JSON.parse(row.writes as string) as [string, string][],
        events: JSON.parse(row.events as string) as never[],
      });
      db.prepare('UPDATE blocks SET certificate = ?, hash = ?, signature = ? WHERE number = 5').run(
        certificate,
        hash,
        signBlockHash(forged, hash),
      );
      db.close();
      const error = openError(path, bundle);
      expect(error).toBeInstanceOf(LedgerTamperedError);
      expect(String(error)).toMatch(/block 5/);
    }, 60_000);
  }
});
