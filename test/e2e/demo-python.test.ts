import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';

interface PythonRound {
  round: number;
  roundId: string;
  contributors: number;
  secureAccuracy: number;
  plaintextAccuracy: number;
  maxWeightDifference: number;
  averageErrorBound: number;
  dropped: string[];
}

describe('npm run demo -- --python', () => {
  it('trains scikit-learn models in five Python banks through their peers, equal to plaintext FedAvg up to the error bound', async () => {
    const { code, stdout, stderr } = await new Promise<{
      code: number;
      stdout: string;
      stderr: string;
    }>((resolve) =>
      execFile(
        process.execPath,
        ['cli/veilsum.ts', 'demo', '--python', '--rounds', '2', '--json'],
        { timeout: 600_000 },
        (error, out, err) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: out, stderr: err }),
      ),
    );
    if (code !== 0) console.error(stderr);
    expect(code).toBe(0);
    const rounds = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as PythonRound);
    expect(rounds.map((r) => r.roundId)).toEqual([
      'demo-fraud-model/round-1',
      'demo-fraud-model/round-2',
    ]);
    for (const round of rounds) {
      expect(round.contributors).toBe(5);
      expect(round.dropped).toEqual([]);
      // The secure average is the plaintext FedAvg average within the round's quantization bound…
      expect(round.maxWeightDifference).toBeLessThanOrEqual(round.averageErrorBound);
      expect(round.averageErrorBound).toBeLessThan(1e-4);
      // …so the loaded model classifies the 4 000 test transactions alike (a point at most may flip).
      expect(Math.abs(round.secureAccuracy - round.plaintextAccuracy)).toBeLessThanOrEqual(
        1 / 4000,
      );
      expect(round.secureAccuracy).toBeGreaterThan(0.85);
    }
  }, 700_000);
});
