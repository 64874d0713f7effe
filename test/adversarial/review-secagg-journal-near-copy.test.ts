import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { UnmaskJournal, updateDigest } from '../../sdk/unmask-journal.ts';

/**
 * Review (attacker): the journal names "the same update" by the SHA-256 of its exact bytes, and
 * says why the quantized levels are not used: two runs of the same floats differ by one level,
 * and "the difference of two sums still gives x_v to within one level". The same holds one step
 * earlier. An update that differs from the first in the last bit of each float (the same
 * training re-run on a GPU, a re-serialised checkpoint, x·(1+2^-23), float64 → float32 twice)
 * has another digest and is taken into a second round; its quantized levels are within one level
 * of the first's — exactly the tolerance the journal's comment calls enough for the attack.
 * Likewise an update handed over as levels (`participateQuantized`) and as floats is two updates.
 */
describe('review: the journal keys on exact bytes', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-review-journal-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it('refuses an update one ulp away from one already summed (it unmasks to the same levels ±1)', () => {
    const x = Float32Array.from({ length: 64 }, (_, j) => Math.sin(j) / 2);
    const nearCopy = Float32Array.from(x, (value) => Math.fround(value * (1 + 2 ** -23)));
    // Within one quantization level of x at any levelBits ≤ 16 with clipRange 1:
    const levelWidth = 2 / (2 ** 16 - 1);
    expect(Math.max(...x.map((v, j) => Math.abs(v - nearCopy[j]!)))).toBeLessThan(levelWidth);

    const journal = new UnmaskJournal(join(directory, 'member.journal'));
    journal.record({
      modelId: 'fraud-model',
      roundNumber: 1,
      roundId: 'fraud-model/round-1',
      updateSha256: updateDigest(x),
    });
    const rerun = {
      modelId: 'fraud-model',
      roundNumber: 2,
      roundId: 'fraud-model/round-2',
      updateSha256: updateDigest(nearCopy),
    };
    let refused = false;
    try {
      journal.record(rerun);
    } catch {
      refused = true;
    }
    expect(refused).toBe(true);
  });
});
