import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function veilsum(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['cli/veilsum.ts', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

describe('errors a data scientist can act on', () => {
  let directory: string;
  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-cli-errors-'));
    expect(
      (await veilsum(['pki', 'init', '--dir', directory, '--members', 'bank-a,bank-b'])).code,
    ).toBe(0);
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  const profileWith = (name: string, changes: Record<string, string>) => {
    const profile = JSON.parse(
      readFileSync(join(directory, 'profile-bank-a.json'), 'utf8'),
    ) as Record<string, string>;
    const path = join(directory, `${name}.json`);
    writeFileSync(path, JSON.stringify({ ...profile, ...changes }));
    return path;
  };

  it('a certificate that does not match its key names both files and the fix', async () => {
    const profile = profileWith('mismatched', { privateKey: 'member-bank-b.key' });
    const result = await veilsum(['round', 'list', '--profile', profile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `the certificate ${join(directory, 'member-bank-a.crt')} (subject`,
    );
    expect(result.stderr).toContain(
      `does not belong to the private key ${join(directory, 'member-bank-b.key')}`,
    );
    expect(result.stderr).not.toMatch(/error:[0-9A-F]{8}/); // no raw OpenSSL text
  });

  it('a missing key file is named, with what to check', async () => {
    const profile = profileWith('missing', { privateKey: 'nowhere.key' });
    const result = await veilsum(['round', 'list', '--profile', profile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `cannot read the private key ${join(directory, 'nowhere.key')}: ENOENT; check the path in the profile`,
    );
  });

  it('with the coordinator down it says what it retries and why, instead of waiting in silence', async () => {
    const profile = profileWith('down', { address: '127.0.0.1:1' });
    const child = spawn(
      process.execPath,
      ['cli/veilsum.ts', 'round', 'list', '--profile', profile],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    const notice = new Promise<void>((resolve) =>
      child.stderr.on('data', (data: Buffer) => {
        stderr += data.toString();
        if (/retrying, for up to \d+ s more/.test(stderr)) resolve();
      }),
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await Promise.race([notice, exited]);
    child.kill('SIGKILL');
    await exited;
    expect(stderr).toMatch(/veilsum: \S+: UNAVAILABLE \(.+\); retrying, for up to \d+ s more/);
  }, 60_000);
});
