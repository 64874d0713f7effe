import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLedgerDatabase, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { openLedger } from '../../ledger/ledger-factory.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';
import { identityIssuersPem, verifiedIdentityOf } from '../../sdk/pki/certificates.ts';

/**
 * A CA rotation: the consortium's old CA issued the coordinator's and one bank's certificates,
 * its new CA a second bank's. Readers given both CAs as the identity issuers verify every block,
 * receipt and ceremony certificate, whichever CA issued it; a trust bundle of several CAs with no
 * issuer named binds no identity (services/common/caller.ts).
 */
let directory: string;
let oldCa: DevPki;
let newCa: DevPki;
let foreign: DevPki;
let bundle: string;
let ledgerPath: string;

function veilsum(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['cli/veilsum.ts', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'veilsum-ca-rotation-'));
  oldCa = await createDevPki(join(directory, 'old'), ['bank-a'], [], 'CN=consortium CA 2025, O=c');
  newCa = await createDevPki(join(directory, 'new'), ['bank-b'], [], 'CN=consortium CA 2026, O=c');
  foreign = await createDevPki(join(directory, 'foreign'), ['bank-b'], [], 'CN=elsewhere, O=x');
  bundle = join(directory, 'consortium-cas.pem');
  writeFileSync(
    bundle,
    readFileSync(oldCa.caCertificatePath, 'utf8') + readFileSync(newCa.caCertificatePath, 'utf8'),
  );
  ledgerPath = join(directory, 'ledger.db');
  const database = new EmbeddedLedgerDatabase(ledgerPath, readFileSync(bundle));
  const as = (issued: { certificatePath: string; privateKeyPath: string }) =>
    new Ledger(database.as(ledgerWriter(issued.certificatePath, issued.privateKeyPath)));
  const coordinator = as(oldCa.server);
  await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
  await coordinator.registerMember('bank-a', ['member']);
  await coordinator.registerMember('bank-b', ['member']);
  await as(oldCa.members['bank-a']!).grantConsent('a-1', 'cards', 'fraud', Date.now() + 1e9);
  // Written under the second CA of the bundle.
  await as(newCa.members['bank-b']!).grantConsent('b-1', 'loans', 'fraud', Date.now() + 1e9);
  database.close();
}, 60_000);

afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('CA rotation: every CA of the identity issuer bundle counts', () => {
  it('verifies blocks signed under the second CA of the bundle, on open and by audit verify-chain', async () => {
    const database = new EmbeddedLedgerDatabase(ledgerPath, readFileSync(bundle));
    try {
      expect(database.verify()).toEqual({ ok: true, blocks: 5 });
    } finally {
      database.close();
    }
    const chain = await veilsum([
      'audit',
      'verify-chain',
      '--ledger',
      ledgerPath,
      '--ca',
      bundle,
      '--identity-issuer',
      bundle,
    ]);
    expect(chain).toMatchObject({ code: 0, stderr: '' });
    expect(chain.stdout).toMatch(/chain intact: 5 blocks/);
    const consents = await veilsum([
      'audit',
      'consents',
      '--ledger',
      ledgerPath,
      '--ca',
      bundle,
      '--identity-issuer',
      bundle,
    ]);
    expect(consents.stdout).toMatch(/bank-b\s+b-1\s+loans/);
    // The new CA alone does not vouch for the blocks the old one's certificates signed.
    expect(
      EmbeddedLedgerDatabase.inspect(ledgerPath, readFileSync(newCa.caCertificatePath)),
    ).toMatchObject({
      ok: false,
      block: 1,
    });
  });

  it('accepts receipt and ceremony certificates from either CA, and none from a CA outside the bundle', () => {
    const pem = (issued: { certificatePath: string }) => readFileSync(issued.certificatePath);
    const issuers = readFileSync(bundle);
    expect(verifiedIdentityOf(pem(oldCa.members['bank-a']!), issuers, 'a').organisation).toBe(
      'bank-a',
    );
    expect(verifiedIdentityOf(pem(newCa.members['bank-b']!), issuers, 'b').organisation).toBe(
      'bank-b',
    );
    expect(() => verifiedIdentityOf(pem(foreign.members['bank-b']!), issuers, 'x')).toThrow(
      /x was not issued by the consortium CA/,
    );
  });

  it('keeps the identity-issuer binding: a trust bundle of several CAs names identities only through tls.identityIssuer', () => {
    const trust = join(directory, 'trust-bundle.pem');
    writeFileSync(
      trust,
      readFileSync(bundle, 'utf8') + readFileSync(foreign.caCertificatePath, 'utf8'),
    );
    expect(() => identityIssuersPem({ caCertificate: trust })).toThrow(
      /holds 3 CAs and no identity issuer is named/,
    );
    expect(() =>
      openLedger({ path: ledgerPath }, 'veilsum-coordinator', undefined, { caCertificate: trust }),
    ).toThrow(/holds 3 CAs and no identity issuer is named/);
    // Naming the consortium's two CAs as issuers: the ledger opens and verifies.
    const opened = openLedger({ path: ledgerPath }, 'veilsum-coordinator', undefined, {
      caCertificate: trust,
      identityIssuer: bundle,
    });
    try {
      expect(opened.embedded!.verify()).toEqual({ ok: true, blocks: 5 });
    } finally {
      opened.close();
    }
    expect(identityIssuersPem({ caCertificate: trust, identityIssuer: bundle })).toContain(
      'BEGIN CERTIFICATE',
    );
  });
});
