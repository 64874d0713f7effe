import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { quantize } from '../../crypto/quantize.ts';
import { seededRandom } from '../../crypto/random.ts';
import type { VeilsumError } from '../../sdk/errors.ts';
import { updateDigest } from '../../sdk/unmask-journal.ts';
import {
  type Consortium,
  createConsortium,
  submitProcess,
  writeQuantizedUpdate,
} from '../support/consortium.ts';
import { connectMembers } from '../support/harness-members.ts';
import { MaliciousCoordinator } from '../support/malicious-coordinator.ts';

let consortium: Consortium;
let coordinator: MaliciousCoordinator;
let roundId: string;

beforeAll(async () => {
  consortium = await createConsortium(8, 'u32');
  coordinator = new MaliciousCoordinator(consortium, {}, 'u32');
  await coordinator.start();
  const opened = await coordinator.open({
    members: consortium.members,
    degree: 7,
    threshold: 5,
    adversary: 'semi-malicious',
    corruptionRate: 0.05,
    dropoutRate: 0.125,
    ledger: false,
  });
  roundId = opened.roundId;
});
afterAll(async () => {
  await coordinator.stop();
  rmSync(consortium.directory, { recursive: true, force: true });
});

/**
 * A member whose pre-quantized `.u32` update holds a value above the round's top level L: summed
 * with the others it would wrap the aggregate modulo 2^modulusBits. The SDK and `veilsum submit`
 * refuse it with INVALID_ARGUMENT before a byte reaches the coordinator. Before the range check,
 * the member's keys were advertised and its out-of-range upload went into the sum.
 */
describe('an out-of-range .u32 update', () => {
  it('is refused by the SDK with INVALID_ARGUMENT naming the value and L; the coordinator hears nothing', async () => {
    const [client] = connectMembers(consortium, coordinator, [consortium.members[0]!]);
    try {
      const round = await client!.getRound(roundId);
      const levels = new Uint32Array(16).fill(100);
      levels[5] = 2 ** 16; // L = 2^16 − 1 at levelBits 16
      const error = (await client!.participateQuantized(round, levels).then(
        () => undefined,
        (reason: unknown) => reason,
      )) as VeilsumError;
      expect(error.code).toBe(3); // INVALID_ARGUMENT
      expect(error.message).toMatch(
        /value 65536 at index 5 exceeds the round's top level L = 65535 \(levelBits 16\)/,
      );
    } finally {
      client!.close();
    }
    expect(coordinator.participantSets().advertised).toEqual([]);
  });

  it('is refused by `veilsum submit` with INVALID_ARGUMENT', async () => {
    const file = join(consortium.directory, 'update.u32');
    writeQuantizedUpdate(file, new Uint32Array(16).fill(2 ** 31));
    const result = await submitProcess([
      '--profile',
      consortium.profilePath(consortium.members[1]!, coordinator.port),
      '--round',
      roundId,
      '--file',
      file,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /value 2147483648 at index 0 exceeds the round's top level L = 65535.*\(INVALID_ARGUMENT\)/,
    );
    expect(coordinator.participantSets().advertised).toEqual([]);
  }, 60_000);
});

/**
 * Review finding C8: participateQuantized took ParticipateOptions.updateSha256 — the name the
 * re-run journal files the update under — on the caller's word. Levels journalled under another
 * update's digest escape the journal's "this update already went into a round" check, so a
 * coordinator re-running the round collects the same update twice and subtracts the sums. Now
 * the digest must be shown by the floats (quantizedFrom) and the levels must be their rounding;
 * otherwise INVALID_ARGUMENT before the coordinator hears anything. (Same round as above: no
 * member of it gets past the checks.)
 */
describe('participateQuantized names an update only by floats it was quantized from', () => {
  const floats = Float32Array.from({ length: 16 }, (_, i) => (i - 8) / 10);
  const other = Float32Array.from({ length: 16 }, (_, i) => (8 - i) / 10);

  async function refusal(options: {
    updateSha256: string;
    quantizedFrom?: () => Iterable<Float32Array>;
  }): Promise<VeilsumError> {
    const [client] = connectMembers(consortium, coordinator, [consortium.members[2]!]);
    try {
      const round = await client!.getRound(roundId);
      const levels = quantize(floats, round.params!.quantization!, seededRandom(1));
      return (await client!.participateQuantized(round, levels, options).then(
        () => new Error('participated'),
        (reason: unknown) => reason,
      )) as VeilsumError;
    } finally {
      client!.close();
    }
  }

  it('refuses a digest that no floats show', async () => {
    const error = await refusal({ updateSha256: updateDigest(other) });
    expect(error.code).toBe(3); // INVALID_ARGUMENT
    expect(error.message).toMatch(
      /updateSha256 names the update by its floats but no quantizedFrom shows them/,
    );
  });

  it('refuses a digest other than that of the floats shown', async () => {
    const error = await refusal({
      updateSha256: updateDigest(other),
      quantizedFrom: () => [floats],
    });
    expect(error.code).toBe(3);
    expect(error.message).toContain(
      `is not the digest of the floats the levels were quantized from (${updateDigest(floats)})`,
    );
  });

  it('refuses floats the levels are not a rounding of; the coordinator hears nothing', async () => {
    const error = await refusal({
      updateSha256: updateDigest(other),
      quantizedFrom: () => [other],
    });
    expect(error.code).toBe(3);
    expect(error.message).toMatch(/level \d+ at index 0 is not a rounding of its float 0\.8/);
    expect(coordinator.participantSets().advertised).toEqual([]);
  });
});
