import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';

interface DemoRound {
  round: number;
  included: string[];
  dropouts: string[];
  aborted: string | null;
  secureAccuracy: number;
  plaintextAccuracy: number;
  maxWeightDifference: number;
  aggregateHash: string | null;
  uploadsMerkleRoot: string | null;
}

describe('veilsum demo (the README main command: coordinator and bank processes)', () => {
  it('trains the fraud model over SecAgg+ to the same weights as plaintext FedAvg, round by round', () => {
    const output = execFileSync(
      process.execPath,
      ['cli/veilsum.ts', 'demo', '--json', '--rounds', '4', '--dropout', '0.3'],
      {
        encoding: 'utf8',
      },
    );
    const rounds = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as DemoRound);
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3, 4]);
    const quantizationStep = 16 / (2 ** 20 - 1);
    for (const round of rounds) {
      if (round.aborted !== null) continue;
      // Dropped-before-upload banks are excluded; banks that dropped only at unmasking are included.
      const droppedEarly = round.dropouts
        .filter((d) => !d.endsWith('@unmasking'))
        .map((d) => d.split('@')[0]);
      for (const bank of droppedEarly) expect(round.included).not.toContain(bank);
      expect(round.included.length + droppedEarly.length).toBe(5);
      expect(round.maxWeightDifference).toBeLessThan(quantizationStep);
      expect(Math.abs(round.secureAccuracy - round.plaintextAccuracy)).toBeLessThanOrEqual(0.002);
      expect(round.aggregateHash).toMatch(/^[0-9a-f]{64}$/);
      expect(round.uploadsMerkleRoot).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(rounds.at(-1)!.secureAccuracy).toBeGreaterThan(0.85);
    expect(rounds.filter((r) => r.aborted === null).length).toBeGreaterThan(0);
  }, 120_000);
});
