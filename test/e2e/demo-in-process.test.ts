import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';

describe('`npm run demo -- --in-process` (documented in the README)', () => {
  it('completes every round on its defaults and exits 0', async () => {
    const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        ['cli/veilsum.ts', 'demo', '--in-process', '--json'],
        (error, stdout) => resolve({ code: error ? (error.code as number) : 0, stdout }),
      );
    });
    const rounds = result.stdout
      .trim()
      .split('\n')
      .map(
        (line) => JSON.parse(line) as { round: number; aborted: string | null; dropouts: string[] },
      );
    expect(rounds.map((round) => round.round)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rounds.filter((round) => round.aborted !== null)).toEqual([]);
    // Dropouts still happen (the default rate is 0.25), within what a round tolerates.
    expect(rounds.some((round) => round.dropouts.length > 0)).toBe(true);
    expect(result.code).toBe(0);
  }, 120_000);
});
