import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLedgerDatabase, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';

/**
 * Review of branch ledger-contract (attacker's view): "every CA of a bundle counts" in block
 * verification, and the CLI's `--ca` now names the identity issuers directly (ledger-commands.ts
 * embeddedAccess: identityIssuer = --ca). The rule the same change keeps for callers — a bundle
 * of several CAs with no issuer named binds no identity (crypto/certificate-bundle.ts) — is
 * skipped there. An auditor who gives the TLS trust bundle it was handed (consortium CA plus a
 * foreign CA, as in test/faults/foreign-ca-identity.test.ts) as `--ca` then accepts blocks that
 * the foreign CA's certificates wrote as any organisation: here a consent "granted" by bank-a
 * that bank-a never signed, and a round opened on it by a forged coordinator.
 */
let directory: string;
let consortium: DevPki;
let foreign: DevPki;
let trustBundle: string;
let ledgerPath: string;

function veilsum(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['cli/veilsum.ts', ...args],
      { timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number) ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'veilsum-review-ca-bundle-'));
  consortium = await createDevPki(join(directory, 'consortium'), ['bank-a']);
  foreign = await createDevPki(join(directory, 'foreign'), ['bank-a'], [], 'CN=elsewhere, O=x');
  trustBundle = join(directory, 'trust-bundle.pem');
  writeFileSync(
    trustBundle,
    readFileSync(consortium.caCertificatePath, 'utf8') +
      readFileSync(foreign.caCertificatePath, 'utf8'),
  );
  ledgerPath = join(directory, 'ledger.db');
  const writer = (id: { certificatePath: string; privateKeyPath: string }) =>
    ledgerWriter(id.certificatePath, id.privateKeyPath);
  // The honest consortium: its own CA only.
  const honest = new EmbeddedLedgerDatabase(ledgerPath, readFileSync(consortium.caCertificatePath));
  const coordinator = new Ledger(honest.as(writer(consortium.server)));
  await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
  await coordinator.registerMember('bank-a', ['member']);
  honest.close();
  // The foreign CA's holder appends blocks as bank-a and as the coordinator.
  const forged = new EmbeddedLedgerDatabase(ledgerPath, readFileSync(trustBundle));
  await new Ledger(forged.as(writer(foreign.members['bank-a']!))).grantConsent(
    'forged-1',
    'cards',
    'fraud',
    Date.now() + 365 * 86_400_000,
  );
  await new Ledger(forged.as(writer(foreign.server))).openRound(
    'fraud/round-1',
    'fraud',
    1,
    'a'.repeat(64),
    ['bank-a'],
  );
  forged.close();
}, 120_000);

afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('review: a second CA in the --ca bundle writes blocks as any organisation', () => {
  it('audit verify-chain and audit consents given the trust bundle as --ca refuse or flag the forged blocks', async () => {
    const chain = await veilsum([
      'audit',
      'verify-chain',
      '--ledger',
      ledgerPath,
      '--ca',
      trustBundle,
    ]);
    const consents = await veilsum([
      'audit',
      'consents',
      '--ledger',
      ledgerPath,
      '--ca',
      trustBundle,
    ]);
    console.log(JSON.stringify({ chain, consents }));
    // The consortium CA alone flags block 4 (the forged grant) ...
    expect(
      EmbeddedLedgerDatabase.inspect(ledgerPath, readFileSync(consortium.caCertificatePath)),
    ).toMatchObject({ ok: false });
    // ... and a bundle of two CAs named only as "the consortium CA" must not vouch for it.
    expect(chain.stdout).not.toMatch(/chain intact/);
    expect(chain.code).not.toBe(0);
    expect(consents.stdout).not.toMatch(/forged-1/);
  }, 240_000);
});
