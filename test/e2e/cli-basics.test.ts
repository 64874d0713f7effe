import { describe, expect, it } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function veilsum(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['cli/veilsum.ts', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

describe('what a newcomer meets first on the command line', () => {
  it('prints the package version for --version', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const result = await veilsum(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  it('keeps the private keys pki init writes under .veilsum/ out of git', () => {
    // git check-ignore exits 0 and echoes the path when it is ignored, 1 when it is not.
    const ignored = execFileSync('git', ['check-ignore', '.veilsum/bank-a.key'], {
      encoding: 'utf8',
    });
    expect(ignored.trim()).toBe('.veilsum/bank-a.key');
  });
});
