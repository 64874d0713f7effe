import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startConsole } from '../../cli/commands/console.ts';
import {
  EmbeddedLedgerDatabase,
  type LedgerWriter,
  ledgerWriter,
} from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { ComplianceConsole } from '../../services/console/console-server.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';

/**
 * Attacker review (review-a): the console's stale-view banner (`problem`) is rendered by
 * `layout`, and the error page for a refused caller is rendered with `context('(not signed
 * in)')`, which carries `problem`. So anyone who reaches the console's port — no client
 * certificate at all (401), or a consortium certificate without the auditor role (403) — reads
 * the ledger's failure: the block number, the writer organisation and the reason a block was
 * refused (embedded), or the peer's name and gRPC error (Fabric), and the ledger height.
 * Threat model: "anyone reaching the console … read the consortium's records without a
 * certificate … 401/403 naming what is missing".
 */
const directory = mkdtempSync(join(tmpdir(), 'veilsum-review-a-console-'));
let pki: DevPki;
let ledgerPath: string;
let console_: ComplianceConsole;
let origin: { host: string; port: number };

const writer = (name: 'server' | 'bank-1'): LedgerWriter =>
  name === 'server'
    ? ledgerWriter(pki.server.certificatePath, pki.server.privateKeyPath)
    : ledgerWriter(pki.members[name]!.certificatePath, pki.members[name]!.privateKeyPath);

function get(
  path: string,
  client?: { cert: Buffer; key: Buffer },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: origin.host,
        port: origin.port,
        path,
        method: 'GET',
        rejectUnauthorized: false,
        ...(client ?? {}),
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  pki = await createDevPki(join(directory, 'pki'), ['bank-1'], [], undefined, {
    servers: ['veilsum-console'],
    officers: ['veilsum-auditor'],
  });
  ledgerPath = join(directory, 'ledger.db');
  const ca = readFileSync(pki.caCertificatePath);
  const database = new EmbeddedLedgerDatabase(ledgerPath, ca);
  const coordinator = new Ledger(database.as(writer('server')));
  await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
  await coordinator.registerMember('veilsum-auditor', ['auditor']);
  await coordinator.registerMember('bank-1', ['member']);
  await new Ledger(database.as(writer('bank-1'))).grantConsent(
    'c-1',
    'cards',
    'fraud',
    Date.now() + 86_400_000,
  );
  database.close();
  console_ = await startConsole({
    ledger: ledgerPath,
    listen: '127.0.0.1:0',
    identity: 'veilsum-auditor',
    caCertificate: pki.caCertificatePath,
    certificate: pki.servers!['veilsum-console']!.certificatePath,
    privateKey: pki.servers!['veilsum-console']!.privateKeyPath,
  });
  origin = { host: '127.0.0.1', port: console_.port };
}, 60_000);

afterAll(async () => {
  await console_?.stop();
  rmSync(directory, { recursive: true, force: true });
});

describe('attack: read the console’s ledger problem without being an auditor', () => {
  it('a caller with no certificate, or a bank’s certificate, is refused but shown the refused block, its writer and the height', async () => {
    // Before: an unauthenticated caller sees no ledger detail.
    const before = await get('/');
    expect(before.status).toBe(401);
    expect(before.body).not.toMatch(/ledger-problem/);

    // The file's owner appends a block "by bank-1" signed with its own key.
    const forged = new EmbeddedLedgerDatabase(ledgerPath, readFileSync(pki.caCertificatePath));
    const forgedBank1: LedgerWriter = {
      ...writer('bank-1'),
      privateKey: createPrivateKey(readFileSync(pki.server.privateKeyPath)),
    };
    await new Ledger(forged.as(forgedBank1)).revokeConsent('c-1');
    forged.close();
    // The console polls every second and records the problem.
    await sleep(2_500);

    const anonymous = await get('/');
    expect(anonymous.status).toBe(401);
    const bank = await get('/', {
      cert: readFileSync(pki.members['bank-1']!.certificatePath),
      key: readFileSync(pki.members['bank-1']!.privateKeyPath),
    });
    // 503 here: the tampered handle refuses the role lookup, and the 503 text carries the
    // ledger's error message too (a bank learns the tamper details without the auditor role).
    expect([403, 503]).toContain(bank.status);
    for (const { body } of [anonymous, bank]) {
      // Fails here on the code under review: the banner is on the refusal pages.
      expect(body).not.toMatch(/id="ledger-problem"/);
      expect(body).not.toMatch(/block 5/);
      expect(body).not.toMatch(/tampered|signature does not verify/);
    }
  }, 60_000);
});
