import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { UnmaskJournal, updateDigest } from '../../sdk/unmask-journal.ts';

describe('the re-run journal', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-journal-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  const entry = {
    modelId: 'fraud-model',
    roundNumber: 1,
    roundId: 'fraud-model/round-1',
    updateSha256: 'ab'.repeat(32),
  };

  it('refuses the same update in any second round, the same round id included (a coordinator may reuse an id), whatever its model id or number', () => {
    const journal = new UnmaskJournal(join(directory, 'member.journal'));
    journal.record(entry);
    expect(() => journal.record(entry)).toThrow(/already went into round fraud-model\/round-1/);
    expect(() => journal.check(entry)).toThrow(/Submit a fresh update/);
    for (const [modelId, roundNumber] of [
      ['fraud-model', 1],
      ['fraud-model', 2],
      ['renamed-model', 1],
    ] as const) {
      const rerun = {
        ...entry,
        modelId,
        roundNumber,
        roundId: `${modelId}/round-${roundNumber}-rerun`,
      };
      expect(() => journal.check(rerun)).toThrow(/already went into round fraud-model\/round-1/);
      expect(() => journal.record(rerun)).toThrow(/Submit a fresh update/);
    }
    // A second process of the member reads the same durable entry.
    expect(() =>
      new UnmaskJournal(join(directory, 'member.journal')).check({ ...entry, roundId: 'other' }),
    ).toThrow(/already went into/);
    // No temporary file is left behind.
    expect(readdirSync(join(directory, 'member.journal'))).toHaveLength(1);
  });

  it('takes a fresh update into the next round', () => {
    const journal = new UnmaskJournal(join(directory, 'member.journal'));
    journal.record(entry);
    expect(() =>
      journal.record({ ...entry, roundId: 'r2', roundNumber: 2, updateSha256: 'cd'.repeat(32) }),
    ).not.toThrow();
  });

  it('names an update by its bytes as given: floats and levels apart, equal arrays equal', () => {
    const floats = Float32Array.from([0.5, -0.25]);
    expect(updateDigest(floats)).toBe(updateDigest(Float32Array.from([0.5, -0.25])));
    expect(updateDigest(floats)).not.toBe(updateDigest(Float32Array.from([0.5, -0.2500001])));
    expect(updateDigest(new Uint32Array(floats.buffer))).not.toBe(updateDigest(floats));
  });
});
