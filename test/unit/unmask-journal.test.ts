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

  it('lets a member re-join the same round (one sum) but refuses the same update in another round of the model, whatever its number', () => {
    const journal = new UnmaskJournal(join(directory, 'member.journal'));
    journal.record(entry);
    expect(() => journal.record(entry)).not.toThrow();
    expect(() => journal.check(entry)).not.toThrow();
    for (const roundNumber of [1, 2]) {
      const rerun = { ...entry, roundNumber, roundId: `fraud-model/round-${roundNumber}-rerun` };
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

  it('keeps another update of the model, or the same update of another model, apart', () => {
    const journal = new UnmaskJournal(join(directory, 'member.journal'));
    journal.record(entry);
    expect(() =>
      journal.record({ ...entry, roundId: 'r2', updateSha256: 'cd'.repeat(32) }),
    ).not.toThrow();
    expect(() => journal.record({ ...entry, roundId: 'r3', modelId: 'other-model' })).not.toThrow();
  });

  it('names an update by its bytes as given: floats and levels apart, equal arrays equal', () => {
    const floats = Float32Array.from([0.5, -0.25]);
    expect(updateDigest(floats)).toBe(updateDigest(Float32Array.from([0.5, -0.25])));
    expect(updateDigest(floats)).not.toBe(updateDigest(Float32Array.from([0.5, -0.2500001])));
    expect(updateDigest(new Uint32Array(floats.buffer))).not.toBe(updateDigest(floats));
  });
});
