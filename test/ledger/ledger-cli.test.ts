import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLedgerDatabase, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';

/** A development PKI and a profile per member: the CLI signs the blocks it writes with it. */
async function consortiumIn(directory: string): Promise<{
  pki: DevPki;
  profile: (member: string) => string;
  open: (path: string) => EmbeddedLedgerDatabase;
}> {
  const pki = await createDevPki(join(directory, 'pki'), ['aldbridge', 'brenmoor']);
  return {
    pki,
    profile: (member) => {
      const file = join(directory, `${member}.profile.json`);
      writeFileSync(
        file,
        JSON.stringify({
          address: '127.0.0.1:1',
          caCertificate: pki.caCertificatePath,
          certificate: pki.members[member]!.certificatePath,
          privateKey: pki.members[member]!.privateKeyPath,
        }),
      );
      return file;
    },
    open: (path) => new EmbeddedLedgerDatabase(path, readFileSync(pki.caCertificatePath)),
  };
}

/** `veilsum consent …` and `veilsum audit events` against a ledger given by --ledger. */
function veilsum(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['cli/veilsum.ts', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

describe('ledger commands', () => {
  it('audit events prints each contract event once across runs sharing a checkpoint file', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'veilsum-ledger-cli-'));
    const path = join(directory, 'ledger.db');
    const checkpoint = join(directory, 'events.checkpoint');
    const { pki, profile, open } = await consortiumIn(directory);
    const database = open(path);
    const coordinator = new Ledger(
      database.as(ledgerWriter(pki.server.certificatePath, pki.server.privateKeyPath)),
    );
    await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
    await coordinator.registerMember('aldbridge', ['member']);
    database.close();
    const grant = (consent: string) =>
      veilsum([
        'consent',
        'grant',
        '--ledger',
        path,
        '--profile',
        profile('aldbridge'),
        '--consent',
        consent,
        '--dataset',
        'cards',
        '--purpose',
        'fraud',
        '--json',
      ]);
    const events = async () => {
      const run = await veilsum([
        'audit',
        'events',
        '--ledger',
        path,
        '--ca',
        pki.caCertificatePath,
        '--checkpoint',
        checkpoint,
        '--json',
      ]);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      return (
        run.stdout
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { name: string; payload: { consentId: string } })
          // The consortium's set-up registers its members first; this test follows consents.
          .filter((event) => event.name !== 'MemberRegistered')
      );
    };
    expect(await grant('c1')).toMatchObject({ code: 0 });
    expect((await events()).map((e) => [e.name, e.payload.consentId])).toEqual([
      ['ConsentGranted', 'c1'],
    ]);
    expect(await events()).toEqual([]);
    expect(await grant('c2')).toMatchObject({ code: 0 });
    expect((await events()).map((e) => e.payload.consentId)).toEqual(['c2']);
  });

  it('a member acting for another member is refused, naming the rule', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'veilsum-ledger-cli-'));
    const path = join(directory, 'ledger.db');
    const { pki, profile, open } = await consortiumIn(directory);
    const database = open(path);
    const coordinator = new Ledger(
      database.as(ledgerWriter(pki.server.certificatePath, pki.server.privateKeyPath)),
    );
    await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
    await coordinator.registerMember('aldbridge', ['member']);
    await coordinator.registerMember('brenmoor', ['member']);
    await new Ledger(
      database.as(
        ledgerWriter(pki.members.aldbridge!.certificatePath, pki.members.aldbridge!.privateKeyPath),
      ),
    ).grantConsent('c1', 'cards', 'fraud', Date.now() + 1e9);
    database.close();
    const run = await veilsum([
      'consent',
      'revoke',
      '--ledger',
      path,
      '--profile',
      profile('brenmoor'),
      '--consent',
      'c1',
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/brenmoor may not revoke consent c1: it belongs to aldbridge/);
  });
});
