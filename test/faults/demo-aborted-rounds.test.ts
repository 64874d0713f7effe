import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';

describe('fault: a demo whose rounds abort', () => {
  it('says which rounds aborted and why, and exits non-zero', () => {
    // With nearly every bank dropping (beyond what the round tolerates), it cannot reach its threshold.
    const run = spawnSync(
      process.execPath,
      [
        'cli/veilsum.ts',
        'demo',
        '--json',
        '--rounds',
        '1',
        '--dropout',
        '0.95',
        '--drop-beyond-threshold',
        '--seed',
        '3',
      ],
      { encoding: 'utf8', timeout: 240_000 },
    );
    const rounds = run.stdout
      .trim()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { round?: number; aborted?: string | null });
    expect(rounds.find((line) => line.round === 1)?.aborted).toEqual(expect.any(String));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/veilsum demo: 1 of 1 rounds aborted \(round 1: .+\)/);
  }, 300_000);
});
