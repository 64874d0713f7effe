import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startCoordinatorProcess } from '../../cli/demo/processes.ts';
import { Adversary, Mode, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import {
  ADMIN,
  type Consortium,
  CoordinatorProcess,
  createConsortium,
} from '../support/consortium.ts';

/**
 * Fault: a tampered embedded ledger was still used. One state row edited to un-revoke a consent
 * let the coordinator admit that member; only `audit verify-chain` noticed. Here: a real
 * coordinator process, the `veilsum` CLI for consents and audits, and a raw SQLite edit of the
 * file, as an operator with write access would make it.
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
      '--as',
      member,
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
    '--as',
    REVOKER,
    '--consent',
    `consent-${REVOKER}`,
  ]);
  expect(revoked).toMatchObject({ code: 0, stderr: '' });
}

function verifyChain() {
  return cli(['audit', 'verify-chain', '--ledger', ledgerPath(), '--json']);
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
});
