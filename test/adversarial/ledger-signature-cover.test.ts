import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  EmbeddedLedgerDatabase,
  LedgerTamperedError,
  type LedgerWriter,
  ledgerWriter,
} from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';

/**
 * Opening a ledger verifies the signature of each writer certificate's LAST block only: that
 * signature is over a hash chaining every earlier block, and the writer's own ledger verified
 * each of them before it signed (chain-verification.ts). The attacker here owns the file and
 * the coordinator's key, and writes blocks as bank-1 with a key of its own (bank-1's
 * certificate, the coordinator's private key): a block whose contract replay is exact and whose
 * hash and link are right, so only bank-1's signature can refuse it. Each must be refused on
 * open, naming its block, wherever it sits; a block that only a later block of bank-1 vouches
 * for must still be bank-1's.
 */
const directory = mkdtempSync(join(tmpdir(), 'veilsum-signature-cover-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let pki: DevPki;
let ca: Buffer;
let path: string;
let file = 0;
const writer = (name: 'server' | 'bank-1' | 'bank-2'): LedgerWriter =>
  name === 'server'
    ? ledgerWriter(pki.server.certificatePath, pki.server.privateKeyPath)
    : ledgerWriter(pki.members[name]!.certificatePath, pki.members[name]!.privateKeyPath);
/** bank-1's certificate with the coordinator's private key: blocks "by bank-1" it never signed. */
const forgedBank1 = (): LedgerWriter => ({
  ...writer('bank-1'),
  privateKey: createPrivateKey(readFileSync(pki.server.privateKeyPath)),
});
const expires = () => Date.now() + 30 * 86_400_000;

/** Runs `work` on the file as `as`, through the ledger's own write path, and closes it. */
async function as(who: LedgerWriter, work: (ledger: Ledger) => Promise<unknown>) {
  const database = new EmbeddedLedgerDatabase(path, ca);
  try {
    await work(new Ledger(database.as(who)));
  } finally {
    database.close();
  }
}

/** A forged block may be written only by a handle that does not re-open the file in between. */
async function session(steps: [LedgerWriter, (ledger: Ledger) => Promise<unknown>][]) {
  const database = new EmbeddedLedgerDatabase(path, ca);
  try {
    for (const [who, work] of steps) await work(new Ledger(database.as(who)));
  } finally {
    database.close();
  }
}

function openRefusal(): unknown {
  try {
    new EmbeddedLedgerDatabase(path, ca).close();
    return undefined;
  } catch (error) {
    return error;
  }
}

beforeEach(async () => {
  pki ??= await createDevPki(join(directory, 'pki'), ['bank-1', 'bank-2']);
  ca = readFileSync(pki.caCertificatePath);
  path = join(directory, `ledger-${++file}.db`);
  // Blocks 1-3: the coordinator registers itself and both banks.
  await as(writer('server'), async (ledger) => {
    await ledger.registerMember('veilsum-coordinator', ['coordinator', 'auditor']);
    await ledger.registerMember('bank-1', ['member']);
    await ledger.registerMember('bank-2', ['member']);
  });
});

describe('attack: blocks as bank-1 that bank-1 never signed, where opening checks one signature per writer', () => {
  it('bank-1’s last block forged, under a later coordinator block, is refused on open at that block', async () => {
    await as(writer('bank-1'), (ledger) => ledger.grantConsent('c-1', 'cards', 'fraud', expires()));
    // Block 5 "by bank-1" (a second consent), block 6 by the coordinator, signed with its key.
    await session([
      [forgedBank1(), (ledger) => ledger.grantConsent('c-forged', 'cards', 'credit', expires())],
      [writer('server'), (ledger) => ledger.registerMember('bank-2', ['member'])],
    ]);
    const refusal = openRefusal();
    expect(refusal).toBeInstanceOf(LedgerTamperedError);
    expect((refusal as Error).message).toMatch(
      /block 5's signature does not verify under the certificate of bank-1/,
    );
    expect(EmbeddedLedgerDatabase.inspect(path, ca)).toMatchObject({ ok: false, block: 5 });
  });

  it('a forged bank-1 block at the head, after genuine bank-1 blocks, is refused on open and by bank-2', async () => {
    await as(writer('bank-1'), (ledger) => ledger.grantConsent('c-1', 'cards', 'fraud', expires()));
    await session([[forgedBank1(), (ledger) => ledger.revokeConsent('c-1')]]);
    expect(String(openRefusal())).toMatch(/block 5's signature does not verify/);
    await expect(
      as(writer('bank-2'), (ledger) => ledger.grantConsent('c-2', 'cards', 'fraud', expires())),
    ).rejects.toThrow(/block 5's signature does not verify/);
  });

  it('bank-1 refuses to extend a chain holding a block forged as bank-1, so no later bank-1 block vouches for one', async () => {
    await session([
      [forgedBank1(), (ledger) => ledger.grantConsent('c-forged', 'cards', 'fraud', expires())],
    ]);
    await expect(
      as(writer('bank-1'), (ledger) => ledger.grantConsent('c-1', 'cards', 'fraud', expires())),
    ).rejects.toThrow(/block 4's signature does not verify under the certificate of bank-1/);
    const db = new Database(path);
    expect(db.prepare('SELECT MAX(number) AS head FROM blocks').get()).toEqual({ head: 4 });
    db.close();
  });

  it('an earlier bank-1 block with only its stored signature garbled opens (bank-1’s later block vouches for its contents); verify-chain reports it', async () => {
    await as(writer('bank-1'), (ledger) => ledger.grantConsent('c-1', 'cards', 'fraud', expires()));
    await as(writer('bank-1'), (ledger) =>
      ledger.grantConsent('c-3', 'cards', 'credit', expires()),
    );
    // (Contents changed and re-hashed instead: test/faults/ledger-tamper.test.ts, refused at the
    // changed block, since the later block's signature no longer verifies.)
    const db = new Database(path);
    const block4 = db.prepare('SELECT signature FROM blocks WHERE number = 4').get() as {
      signature: string;
    };
    db.close();
    // Garbled signature only (contents intact): bank-1's block 5 still vouches for block 4.
    const garbled = Buffer.from(block4.signature, 'base64');
    garbled[0]! ^= 1;
    const raw = new Database(path);
    raw.prepare('UPDATE blocks SET signature = ? WHERE number = 4').run(garbled.toString('base64'));
    raw.close();
    expect(openRefusal()).toBeUndefined();
    // An auditor's verify-chain checks every signature and reports it.
    expect(EmbeddedLedgerDatabase.inspect(path, ca)).toMatchObject({
      ok: false,
      block: 4,
      reason: expect.stringMatching(/block 4's signature does not verify/) as unknown as string,
    });
  });
});
