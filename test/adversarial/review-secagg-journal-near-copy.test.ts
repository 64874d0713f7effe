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
 *
 * The journal now also keys on the training slot the application names (`trainedFrom`: the
 * model version it trained from), which a near copy shares with the original whatever its bytes
 * and whatever round number or model id the coordinator gives the re-run; the next model version
 * is a new slot.
 */
describe('review: the journal keys on exact bytes', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-review-journal-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  const x = Float32Array.from({ length: 64 }, (_, j) => Math.sin(j) / 2);
  const nearCopy = Float32Array.from(x, (value) => Math.fround(value * (1 + 2 ** -23)));
  const first = {
    modelId: 'fraud-model',
    roundNumber: 1,
    roundId: 'fraud-model/round-1',
    updateSha256: updateDigest(x),
    trainedFrom: 'model-version-sha256:0a1b',
  };

  it('refuses an update one ulp away from one already summed (it unmasks to the same levels ±1)', () => {
    // Within one quantization level of x at any levelBits ≤ 16 with clipRange 1:
    const levelWidth = 2 / (2 ** 16 - 1);
    expect(Math.max(...x.map((v, j) => Math.abs(v - nearCopy[j]!)))).toBeLessThan(levelWidth);
    expect(updateDigest(nearCopy)).not.toBe(updateDigest(x));

    const journal = new UnmaskJournal(join(directory, 'member.journal'));
    journal.record(first);
    // The re-run, retrained from the same model version, under any name the coordinator picks.
    for (const [modelId, roundNumber] of [
      ['fraud-model', 2],
      ['renamed-model', 1],
    ] as const) {
      const rerun = {
        modelId,
        roundNumber,
        roundId: `${modelId}/round-${roundNumber}`,
        updateSha256: updateDigest(nearCopy),
        trainedFrom: first.trainedFrom,
      };
      expect(() => journal.check(rerun)).toThrow(
        /an update trained from model-version-sha256:0a1b already went into round fraud-model\/round-1/,
      );
      expect(() => journal.record(rerun)).toThrow(/Train from the model version/);
    }
  });

  it('takes the next round’s update, trained from the next model version', () => {
    const journal = new UnmaskJournal(join(directory, 'member.journal'));
    journal.record(first);
    expect(() =>
      journal.record({
        ...first,
        roundNumber: 2,
        roundId: 'fraud-model/round-2',
        updateSha256: updateDigest(nearCopy),
        trainedFrom: 'model-version-sha256:2c3d',
      }),
    ).not.toThrow();
    // The exact bytes stay claimed whatever slot they are given.
    expect(() =>
      journal.record({ ...first, roundId: 'fraud-model/round-3', trainedFrom: 'another' }),
    ).toThrow(/this update already went into round fraud-model\/round-1/);
    // …and a slot claimed for an update that was then refused is given back.
    expect(() =>
      journal.record({
        ...first,
        roundId: 'r4',
        updateSha256: updateDigest(Float32Array.of(1)),
        trainedFrom: 'another',
      }),
    ).not.toThrow();
  });
});
