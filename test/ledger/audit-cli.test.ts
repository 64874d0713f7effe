import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consentState, csvField, when } from '../../cli/commands/ledger-format.ts';
import type { ConsentRecord } from '../../ledger/records.ts';

/**
 * The consent and audit commands as a compliance officer and a bank run them outside the demo:
 * on a consortium `pki init` made (which creates and registers the ledger), nothing else.
 */
// Each test runs several CLI processes: minutes on a loaded machine.
jest.setTimeout(240_000);

let directory: string;
const file = (name: string) => join(directory, '.veilsum', name);

function veilsum(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(process.cwd(), 'cli/veilsum.ts'), ...args],
      { cwd: directory },
      (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

const grant = (bank: string, consent: string, extra: string[] = []) =>
  veilsum([
    'consent',
    'grant',
    '--ledger',
    file('ledger.db'),
    '--profile',
    file(`profile-${bank}.json`),
    '--consent',
    consent,
    '--dataset',
    `${bank}-cards`,
    '--purpose',
    'fraud',
    ...extra,
  ]);

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'veilsum-audit-cli-'));
  const init = await veilsum(['pki', 'init', '--dir', '.veilsum', '--members', 'bank-a,bank-b']);
  expect(init).toMatchObject({ code: 0 });
}, 60_000);

afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('consent and audit commands outside the demo', () => {
  it('refuses a consent for 100 000 000 days with a clear message, and consent-history still reads', async () => {
    const forever = await grant('bank-a', 'a-forever', ['--days', '100000000']);
    expect(forever.code).not.toBe(0);
    expect(forever.stderr).toMatch(/a consent lasts at most 3653 days \(ten years\)/);
    expect(await grant('bank-a', 'a-1', ['--days', '3650'])).toMatchObject({ code: 0 });
    const history = await veilsum([
      'audit',
      'consent-history',
      '--ledger',
      file('ledger.db'),
      '--ca',
      file('ca.crt'),
      '--member',
      'bank-a',
    ]);
    expect(history).toMatchObject({ code: 0, stderr: '' });
    expect(history.stdout).toMatch(
      /^a-1 {2}bank-a-cards {2}for fraud {2}granted \S+Z {2}valid until 20\d\d-/,
    );
    expect(history.stdout).not.toMatch(/a-forever|Invalid time value/);
  });

  it('prints a stored record it would refuse today (out-of-range expiry, no revokedAt) without crashing', () => {
    const legacy = {
      consentId: 'old',
      memberId: 'bank-a',
      datasetId: 'cards',
      purpose: 'fraud',
      grantedAt: 1_700_000_000_000,
      expiresAt: 1_700_000_000_000 + 1e8 * 86_400_000,
    } as unknown as ConsentRecord;
    expect(consentState(legacy)).toBe('valid until 8641700000000000 (not a valid date)');
    expect(consentState({ ...legacy, revokedAt: 1_700_000_000_001 })).toBe(
      'revoked 2023-11-14T22:13:20.001Z',
    );
    expect(when(undefined)).toBe('unknown');
    expect(csvField('cards, "2026"')).toBe('"cards, ""2026"""');
  });

  it('lists every member’s consents as a table, JSON and CSV', async () => {
    expect(await grant('bank-b', 'b-1')).toMatchObject({ code: 0 });
    const revoke = await veilsum([
      'consent',
      'revoke',
      '--ledger',
      file('ledger.db'),
      '--profile',
      file('profile-bank-b.json'),
      '--consent',
      'b-1',
    ]);
    expect(revoke).toMatchObject({ code: 0 });
    const read = (format: string[]) =>
      veilsum([
        'audit',
        'consents',
        '--ledger',
        file('ledger.db'),
        '--ca',
        file('ca.crt'),
        ...format,
      ]);
    const table = await read([]);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^member +consent +dataset +purpose +granted +expires +revoked$/,
    );
    expect(table.stdout).toMatch(/\nbank-a +a-1 +bank-a-cards +fraud /);
    const json = JSON.parse((await read(['--json'])).stdout) as ConsentRecord[];
    expect(json.map((c) => [c.memberId, c.consentId, c.revokedAt !== null])).toEqual([
      ['bank-a', 'a-1', false],
      ['bank-b', 'b-1', true],
    ]);
    const csv = (await read(['--csv'])).stdout.trim().split('\n');
    expect(csv[0]).toBe('member,consent,dataset,purpose,granted,expires,revoked');
    expect(csv.slice(1).map((line) => line.split(',').slice(0, 2))).toEqual([
      ['bank-a', 'a-1'],
      ['bank-b', 'b-1'],
    ]);
    expect(csv[2]!.split(',')[6]).toMatch(/^20\d\d-/);
  });

  it('ledger grant-role gives a keyholder its role as the coordinator, and refuses a conflicting one', async () => {
    const grantRole = (id: string, role: string) =>
      veilsum([
        'ledger',
        'grant-role',
        '--config',
        file('coordinator.json'),
        '--id',
        id,
        '--role',
        role,
        '--json',
      ]);
    const granted = await grantRole('kh-9', 'keyholder');
    expect(granted).toMatchObject({ code: 0 });
    expect(JSON.parse(granted.stdout)).toEqual({
      coordinator: 'veilsum-coordinator',
      registered: { 'kh-9': ['keyholder'] },
    });
    const conflicting = await grantRole('kh-9', 'auditor');
    expect(conflicting.code).not.toBe(0);
    expect(conflicting.stderr).toMatch(/kh-9 would hold the keyholder and the auditor role/);
  });

  it('refuses a mistyped --ledger path instead of creating an empty ledger there', async () => {
    const typo = file('ledgr.db');
    const run = await grant('bank-a', 'a-2', []).then(() =>
      veilsum([
        'consent',
        'grant',
        '--ledger',
        typo,
        '--profile',
        file('profile-bank-a.json'),
        '--consent',
        'a-3',
        '--dataset',
        'cards',
        '--purpose',
        'fraud',
      ]),
    );
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/no embedded ledger at .*ledgr\.db: check --ledger/);
    expect(existsSync(typo)).toBe(false);
    const audit = await veilsum(['audit', 'consents', '--ledger', typo, '--ca', file('ca.crt')]);
    expect(audit.stderr).toMatch(/no embedded ledger at/);
    expect(existsSync(typo)).toBe(false);
    expect(readFileSync(file('coordinator.json'), 'utf8')).toMatch(/"ledger"/);
  });
});
