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
  notes: string[];
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
    const lines = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as DemoRound & { event?: string });
    const rounds = lines.filter((line) => line.event === undefined);
    const audit = lines.find((line) => line.event === 'audit') as unknown as {
      contributions: { member: string; consent: string }[];
      inclusion: { verified: boolean };
      chain: { ok: boolean };
    };
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3, 4]);
    const quantizationStep = 16 / (2 ** 20 - 1);
    for (const round of rounds) {
      if (round.aborted !== null) continue;
      // Dropped-before-upload banks are excluded; banks that dropped only at unmasking are included.
      const droppedEarly = round.dropouts
        .filter((d) => !d.endsWith('@unmasking'))
        .map((d) => d.split('@')[0]);
      for (const bank of droppedEarly) expect(round.included).not.toContain(bank);
      const refused = round.notes
        .filter((note) => note.includes(' refused: '))
        .map((note) => note.split(' ')[0]);
      expect(round.included.length + droppedEarly.length + refused.length).toBe(5);
      expect(round.maxWeightDifference).toBeLessThan(quantizationStep);
      expect(Math.abs(round.secureAccuracy - round.plaintextAccuracy)).toBeLessThanOrEqual(0.002);
      expect(round.aggregateHash).toMatch(/^[0-9a-f]{64}$/);
      expect(round.uploadsMerkleRoot).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(rounds.at(-1)!.secureAccuracy).toBeGreaterThan(0.85);
    expect(rounds.filter((r) => r.aborted === null).length).toBeGreaterThan(0);
    // Round 4 is opened after Corvale revoked its consent: it is refused, naming the consent.
    expect(rounds[3]!.notes.join('\n')).toMatch(
      /Corvale refused: .*consent corvale-consent-1 .* was revoked/,
    );
    expect(rounds[3]!.included).not.toContain('Corvale');
    expect(audit.inclusion.verified).toBe(true);
    expect(audit.chain.ok).toBe(true);
    expect(audit.contributions.length).toBeGreaterThan(0);
  }, 120_000);

  it('--mode ckks: encrypted FedAvg decrypted by 3 of 5 keyholders matches plaintext FedAvg, through a keyholder crash', () => {
    const output = execFileSync(
      process.execPath,
      ['cli/veilsum.ts', 'demo', '--json', '--mode', 'ckks', '--rounds', '4', '--dropout', '0.3'],
      { encoding: 'utf8' },
    );
    const lines = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as DemoRound & { event?: string });
    const rounds = lines.filter((line) => line.event === undefined);
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3, 4]);
    for (const round of rounds) {
      if (round.aborted !== null) continue;
      for (const bank of round.dropouts) expect(round.included).not.toContain(bank);
      // CKKS error, not quantization: far below the SecAgg quantization step.
      expect(round.maxWeightDifference).toBeLessThan(1e-4);
      expect(round.aggregateHash).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(rounds[2]!.notes.join('\n')).toMatch(/keyholder-1 crashed/);
    // Every round in which at least 2 banks uploaded — the minimum — was decrypted, including the
    // rounds after the crash (3 of the remaining 4 keyholders), and contains exactly those banks.
    for (const round of rounds) {
      const refused = round.notes.filter((note) => note.includes(' refused: ')).length;
      const uploaded = 5 - round.dropouts.length - refused;
      if (uploaded >= 2) {
        expect(round.aborted).toBeNull();
        expect(round.included).toHaveLength(uploaded);
      } else expect(round.aborted).toMatch(/minimum/);
    }
    expect(rounds[3]!.notes.join('\n')).toMatch(/Corvale refused: .*corvale-consent-1/);
    expect(rounds.at(-1)!.secureAccuracy).toBeGreaterThan(0.85);
  }, 180_000);
});
