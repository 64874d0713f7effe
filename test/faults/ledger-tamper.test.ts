import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startCoordinatorProcess } from '../../cli/demo/processes.ts';
import {
  blockHash,
  type LedgerWriter,
  ledgerWriter,
} from '../../ledger/embedded/embedded-ledger.ts';
import { signBlockHash } from '../../ledger/embedded/block-signature.ts';
import { Adversary, Mode, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';
import {
  ADMIN,
  type Consortium,
  CoordinatorProcess,
  createConsortium,
} from '../support/consortium.ts';

/**
 * Fault: a tampered embedded ledger was still used. One state row edited to un-revoke a consent
 * let the coordinator admit that member (only `audit verify-chain` noticed), and a consistent
 * rewrite of the chain — hashes and links recomputed — verified as intact, because blocks were
 * hashed but not signed. Here: a real coordinator process, the `veilsum` CLI for consents and
 * audits, and raw SQLite edits of the file, as an operator with write access (and no member
 * keys) would make them.
 */
const MODEL = 'fraud-model';
const REVOKER = 'tam-02';

let consortium: Consortium | undefined;
let coordinator: CoordinatorProcess | undefined;

afterEach(async () => {
  await coordinator?.stop();
  coordinator = undefined;
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['cli/veilsum.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

const ledgerPath = () => join(consortium!.directory, 'ledger.db');

/** Three members consent through the CLI (each block signed by the member); tam-02 revokes. */
async function consortiumWithRevokedConsent(): Promise<void> {
  consortium = await createConsortium(3, 'tam', { ledger: true });
  coordinator = await CoordinatorProcess.start(consortium);
  for (const member of consortium.members) {
    const granted = await cli([
      'consent',
      'grant',
      '--ledger',
      ledgerPath(),
      '--profile',
      consortium.profilePath(member, coordinator.port),
      '--consent',
      `consent-${member}`,
      '--dataset',
      `cards-${member}`,
      '--purpose',
      MODEL,
    ]);
    expect(granted).toMatchObject({ code: 0, stderr: '' });
  }
  const revoked = await cli([
    'consent',
    'revoke',
    '--ledger',
    ledgerPath(),
    '--profile',
    consortium.profilePath(REVOKER, coordinator.port),
    '--consent',
    `consent-${REVOKER}`,
  ]);
  expect(revoked).toMatchObject({ code: 0, stderr: '' });
}

function verifyChain() {
  return cli([
    'audit',
    'verify-chain',
    '--ledger',
    ledgerPath(),
    '--ca',
    consortium!.pki.caCertificatePath,
    '--json',
  ]);
}

/** Starting a coordinator on the ledger: resolves with its exit code and what it said. */
async function startRefused(): Promise<{ code: number | null; output: string }> {
  const lines: string[] = [];
  const started = startCoordinatorProcess(
    consortium!.config,
    join(consortium!.directory, 'coordinator-restart.json'),
    (line) => lines.push(line),
  );
  const outcome = await started.then(
    ({ child }) => {
      child.kill('SIGKILL');
      return 'started' as const;
    },
    (error: Error) => error.message,
  );
  expect(outcome).not.toBe('started');
  return { code: Number(/code (\S+)/.exec(outcome)?.[1]), output: lines.join('\n') };
}

function openRoundParams(): RoundParams {
  return {
    modelId: MODEL,
    roundNumber: 1,
    mode: Mode.MODE_SECAGG,
    dimension: 16,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    threshold: 3,
    degree: 2,
    adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
    members: consortium!.members,
    deadlines: {
      advertiseKeysMs: 30_000,
      shareKeysMs: 30_000,
      maskedInputMs: 30_000,
      consistencyCheckMs: 30_000,
      unmaskingMs: 30_000,
    },
    corruptionRate: 0,
    dropoutRate: 0,
    minContributors: 0,
    ckks: undefined,
  };
}

/** The revocation turned back into a live consent: the consent record with revokedAt = null. */
function unrevoked(value: string): string {
  return JSON.stringify({ ...(JSON.parse(value) as Record<string, unknown>), revokedAt: null });
}

interface RawBlock {
  number: number;
  previous_hash: string;
  timestamp: number;
  caller: string;
  certificate?: string | null;
  fn: string;
  args: string;
  writes: string;
  events: string;
  hash: string;
  signature?: string | null;
}

/**
 * Rewrites the revocation block as a no-op and re-hashes and re-links it and every later block,
 * with the state table to match: a chain consistent in every hash. `resign` re-signs each
 * rewritten block with a key of the attacker's choosing (a certificate from another CA).
 */
function rewriteChainWithoutRevocation(resign?: (caller: string) => LedgerWriter): number {
  const db = new Database(ledgerPath());
  const rows = db.prepare('SELECT * FROM blocks ORDER BY number').all() as RawBlock[];
  const revocation = rows.find((row) => row.fn === 'revokeConsent')!;
  let previousHash = rows.find((row) => row.number === revocation.number - 1)!.hash;
  for (const row of rows.filter((r) => r.number >= revocation.number)) {
    let writes = JSON.parse(row.writes) as [string, string][];
    let events: unknown[] = JSON.parse(row.events) as unknown[];
    if (row === revocation) {
      writes = writes.map(([key, value]) => [key, unrevoked(value)]);
      events = [];
      for (const [key, value] of writes)
        db.prepare('UPDATE state SET value = ? WHERE key = ?').run(value, key);
    }
    const writer = resign?.(row.caller);
    const certificate = writer?.certificatePem ?? row.certificate ?? undefined;
    const hash = blockHash({
      number: row.number,
      previousHash,
      timestamp: row.timestamp,
      caller: row.caller,
      ...(certificate === undefined ? {} : { certificate }),
      fn: row.fn,
      args: JSON.parse(row.args) as unknown[],
      writes,
      events,
    } as Parameters<typeof blockHash>[0]);
    db.prepare(
      'UPDATE blocks SET previous_hash = ?, writes = ?, events = ?, hash = ? WHERE number = ?',
    ).run(previousHash, JSON.stringify(writes), JSON.stringify(events), hash, row.number);
    if (writer)
      db.prepare('UPDATE blocks SET certificate = ?, signature = ? WHERE number = ?').run(
        writer.certificatePem,
        signBlockHash(writer, hash),
        row.number,
      );
    previousHash = hash;
  }
  db.close();
  return revocation.number;
}

describe('fault: a tampered embedded ledger is refused, never used', () => {
  it('a state row edited to un-revoke a consent is refused by the running coordinator, by verify-chain and at start', async () => {
    await consortiumWithRevokedConsent();
    const db = new Database(ledgerPath());
    const key = `consent/consent-${REVOKER}`;
    const row = db.prepare('SELECT value FROM state WHERE key = ?').get(key) as { value: string };
    db.prepare('UPDATE state SET value = ? WHERE key = ?').run(unrevoked(row.value), key);
    const revocationBlock = (
      db.prepare("SELECT number FROM blocks WHERE fn = 'revokeConsent'").get() as {
        number: number;
      }
    ).number;
    db.close();

    // The running coordinator checks every row against the signed chain before using it.
    const admin = VeilsumClient.connect(consortium!.profile(ADMIN, coordinator!.port));
    try {
      await expect(admin.openRound(openRoundParams())).rejects.toThrow(
        new RegExp(
          `tampered with: state key consent/consent-${REVOKER} does not match what the chain wrote \\(block ${revocationBlock}\\).*DATA_LOSS`,
        ),
      );
      expect(await admin.listRounds()).toHaveLength(0);
    } finally {
      admin.close();
    }

    const audit = await verifyChain();
    expect(audit.code).toBe(2);
    expect(JSON.parse(audit.stdout)).toMatchObject({ ok: false, block: revocationBlock });

    await coordinator!.stop();
    coordinator = undefined;
    const restart = await startRefused();
    expect(restart.code).toBe(1);
    expect(restart.output).toMatch(
      new RegExp(`tampered with: state key consent/consent-${REVOKER} does not match`),
    );
  }, 90_000);

  it('a consistently re-hashed chain without the revocation fails the revoking member’s signature', async () => {
    await consortiumWithRevokedConsent();
    await coordinator!.stop();
    coordinator = undefined;
    const revocationBlock = rewriteChainWithoutRevocation();

    const audit = await verifyChain();
    expect(audit.code).toBe(2);
    expect(JSON.parse(audit.stdout)).toEqual({
      ok: false,
      blocks: expect.any(Number) as unknown as number,
      block: revocationBlock,
      reason: `block ${revocationBlock}'s signature does not verify under the certificate of ${REVOKER}: the block was altered or re-hashed`,
    });

    const restart = await startRefused();
    expect(restart.code).toBe(1);
    expect(restart.output).toMatch(
      new RegExp(`tampered with: block ${revocationBlock}'s signature does not verify`),
    );
  }, 90_000);

  it('a chain re-signed with certificates from another CA (same subject O) is refused', async () => {
    await consortiumWithRevokedConsent();
    await coordinator!.stop();
    coordinator = undefined;
    const foreign = await createDevPki(join(consortium!.directory, 'foreign-pki'), [
      ...consortium!.members,
      'veilsum-coordinator',
    ]);
    const revocationBlock = rewriteChainWithoutRevocation((caller) =>
      ledgerWriter(
        foreign.members[caller]!.certificatePath,
        foreign.members[caller]!.privateKeyPath,
      ),
    );
    const audit = await verifyChain();
    expect(audit.code).toBe(2);
    expect(JSON.parse(audit.stdout)).toMatchObject({ ok: false, block: revocationBlock });
    expect((JSON.parse(audit.stdout) as { reason: string }).reason).toMatch(
      /was not issued by the consortium CA/,
    );
    const restart = await startRefused();
    expect(restart.code).toBe(1);
  }, 90_000);
});
