import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  EmbeddedLedgerDatabase,
  type LedgerWriter,
  ledgerWriter,
} from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { startConsole } from '../../cli/commands/console.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';

/**
 * Attacker review (review-a): the one-signature-per-writer open accepts a block whose stored
 * signature alone is garbled when its writer signed a later block (documented in
 * replay-worker.ts). What that hands the file's owner: the console (which opens the file this
 * way and exports "signed blocks") starts on such a file, says on its chain-health page that
 * every block's writer signature was checked, and hands out evidence bundles that
 * `audit verify-bundle` refuses, naming the honest bank's block as "altered or re-hashed".
 * Before the change the console refused to start on this file (LedgerTamperedError), so no
 * such bundle could be exported. The owner chooses which bank's consent block breaks which
 * model version's evidence, at any time, without any key.
 */
const directory = mkdtempSync(join(tmpdir(), 'veilsum-review-a-garbled-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('attack: garble one stored signature of an honest bank, then ask the console for evidence', () => {
  it('the console refuses the file naming the block; verify-chain names it too', async () => {
    const pki = await createDevPki(join(directory, 'pki'), ['bank-1'], [], undefined, {
      servers: ['veilsum-console'],
    });
    const ca = readFileSync(pki.caCertificatePath);
    const path = join(directory, 'ledger.db');
    const writer = (name: 'server' | 'bank-1'): LedgerWriter =>
      name === 'server'
        ? ledgerWriter(pki.server.certificatePath, pki.server.privateKeyPath)
        : ledgerWriter(pki.members[name]!.certificatePath, pki.members[name]!.privateKeyPath);
    const database = new EmbeddedLedgerDatabase(path, ca);
    const coordinator = new Ledger(database.as(writer('server')));
    await coordinator.registerMember('veilsum-coordinator', ['coordinator', 'auditor']);
    await coordinator.registerMember('bank-1', ['member']);
    const bank = new Ledger(database.as(writer('bank-1')));
    await bank.grantConsent('c-1', 'cards', 'fraud', Date.now() + 86_400_000); // block 3
    await bank.grantConsent('c-2', 'cards', 'credit', Date.now() + 86_400_000); // block 4
    database.close();

    // The owner flips one bit of block 3's stored signature (not part of the hash).
    const raw = new Database(path);
    const { signature } = raw.prepare('SELECT signature FROM blocks WHERE number = 3').get() as {
      signature: string;
    };
    const garbled = Buffer.from(signature, 'base64');
    garbled[0]! ^= 1;
    raw.prepare('UPDATE blocks SET signature = ? WHERE number = 3').run(garbled.toString('base64'));
    raw.close();

    // The console (cli/commands/console.ts) opens the file checking every signature, so it
    // refuses this file naming the block, as before the one-signature-per-writer open: it never
    // serves or exports evidence resting on a block whose signature does not verify. (Fails on
    // the reviewed code: the console started and exported a bundle `verify-bundle` refused,
    // blaming bank-1's untouched block as "altered or re-hashed".)
    await expect(
      startConsole({
        ledger: path,
        listen: '127.0.0.1:0',
        identity: 'veilsum-coordinator',
        caCertificate: pki.caCertificatePath,
        certificate: pki.servers!['veilsum-console']!.certificatePath,
        privateKey: pki.servers!['veilsum-console']!.privateKeyPath,
      }),
    ).rejects.toThrow(/block 3's signature does not verify/);
    // A member's first open still accepts it (the later bank-1 block covers its contents), and
    // `audit verify-chain`, which checks every signature, names it.
    new EmbeddedLedgerDatabase(path, ca).close();
    const inspected = EmbeddedLedgerDatabase.inspect(path, ca);
    expect(inspected.ok).toBe(false);
    expect(inspected.ok ? '' : inspected.reason).toMatch(/signature does not verify/);
  });
});
