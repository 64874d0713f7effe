import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { VeilsumError } from '../../sdk/errors.ts';
import {
  type Consortium,
  createConsortium,
  submitProcess,
  writeQuantizedUpdate,
} from '../support/consortium.ts';
import { connectMembers } from '../support/harness-members.ts';
import { MaliciousCoordinator } from '../support/malicious-coordinator.ts';

/**
 * A member whose pre-quantized `.u32` update holds a value above the round's top level L: summed
 * with the others it would wrap the aggregate modulo 2^modulusBits. The SDK and `veilsum submit`
 * refuse it with INVALID_ARGUMENT before a byte reaches the coordinator. Before the range check,
 * the member's keys were advertised and its out-of-range upload went into the sum.
 */
describe('an out-of-range .u32 update', () => {
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
