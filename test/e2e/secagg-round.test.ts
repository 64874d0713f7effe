import { beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { Adversary, Mode, Phase, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { seededRandom } from '../../crypto/random.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import {
  ADMIN,
  type Consortium,
  CoordinatorProcess,
  createConsortium,
  submitProcess,
  writeQuantizedUpdate,
} from '../support/consortium.ts';

const DIMENSION = 5_000;

function roundParams(
  members: string[],
  roundNumber: number,
  deadlines: { first: number; rest: number },
): RoundParams {
  return {
    modelId: 'e2e-model',
    roundNumber,
    mode: Mode.MODE_SECAGG,
    dimension: DIMENSION,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    // Complete graph against a semi-malicious server: t > (n + γn)/2 with at least one colluder.
    threshold: Math.floor((members.length + 1) / 2) + 1,
    degree: members.length - 1,
    adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
    members,
    deadlines: {
      advertiseKeysMs: deadlines.first,
      shareKeysMs: deadlines.rest,
      maskedInputMs: deadlines.rest,
      consistencyCheckMs: deadlines.rest,
      unmaskingMs: deadlines.rest,
    },
    // γ = 0.05 (one colluder at these sizes): CLI members refuse rounds below their policy's floor.
    corruptionRate: 0.05,
    // Up to a quarter may drop: the first test drops one member before each of five phases.
    dropoutRate: 0.25,
    minContributors: 0,
    ckks: undefined,
  };
}

function inputsFor(count: number, seed: number): Uint32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const bytes = random(DIMENSION * 4);
    return new Uint32Array(bytes.buffer, bytes.byteOffset, DIMENSION).map((word) => word >>> 16);
  });
}

function expectedSum(inputs: Uint32Array[], included: number[]): Uint32Array {
  const sum = new Uint32Array(DIMENSION);
  for (const index of included) {
    const input = inputs[index - 1]!;
    for (let i = 0; i < DIMENSION; i++) sum[i]! += input[i]!;
  }
  return sum;
}

describe('SecAgg+ over gRPC with real processes', () => {
  let consortium: Consortium;
  beforeAll(async () => {
    consortium = await createConsortium(20);
  });

  it('20 member processes, one dropping before each phase: the aggregate is the exact sum of U3', async () => {
    const coordinator = await CoordinatorProcess.start(consortium);
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
    try {
      const round = await admin.openRound(
        // Twenty processes start slowly on a loaded machine, and a late advertiser now counts
        // against min contributors (15), not just t: AdvertiseKeys waits long enough for them.
        roundParams(consortium.members, 1, { first: 60_000, rest: 3_000 }),
      );
      const inputs = inputsFor(20, 1);
      const dropBefore = [
        'advertise-keys',
        'share-keys',
        'masked-input',
        'consistency-check',
        'unmasking',
      ];
      const runs = consortium.members.map((member, i) => {
        const file = join(consortium.directory, `${member}.u32`);
        writeQuantizedUpdate(file, inputs[i]!);
        const args = [
          '--profile',
          consortium.profilePath(member, coordinator.port),
          '--round',
          round.roundId,
          '--file',
          file,
        ];
        if (i < dropBefore.length) args.push('--drop-before', dropBefore[i]!);
        return submitProcess(args);
      });
      const results = await Promise.all(runs);
      for (const result of results)
        expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });

      const finished = await admin.getRound(round.roundId);
      expect(finished.phase).toBe(Phase.PHASE_DONE);
      // Members 1–3 never uploaded; 4 and 5 uploaded and then went silent, so they are included.
      const included = Array.from({ length: 17 }, (_, i) => i + 4);
      expect(finished.included).toEqual(included);
      expect(finished.advertised).not.toContain(1);
      expect(finished.masked).toEqual(included);
      expect(finished.signed).not.toContain(4);
      expect(finished.unmasked).not.toContain(5);
      expect(await admin.getAggregate(round.roundId)).toEqual(expectedSum(inputs, included));
      for (const result of results.slice(5)) {
        expect(result.lines.at(-1)).toMatchObject({ event: 'result', included: true });
      }
    } finally {
      admin.close();
      await coordinator.stop();
    }
  }, 180_000);

  it('a coordinator SIGKILLed during MaskedInputCollection restarts and completes the round with the exact sum', async () => {
    let coordinator = await CoordinatorProcess.start(consortium);
    const port = coordinator.port;
    const members = consortium.members.slice(0, 10);
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, port));
    try {
      const round = await admin.openRound({
        ...roundParams(members, 2, { first: 60_000, rest: 30_000 }),
        threshold: 6,
      });
      const inputs = inputsFor(10, 2);
      // Members 6–10 are slow to upload, so the kill lands after some uploads were acknowledged.
      const runs = members.map((member, i) => {
        const file = join(consortium.directory, `${member}-r2.u32`);
        writeQuantizedUpdate(file, inputs[i]!);
        const args = [
          '--profile',
          consortium.profilePath(member, port),
          '--round',
          round.roundId,
          '--file',
          file,
        ];
        if (i >= 5) args.push('--delay-upload-ms', '4000');
        return submitProcess(args);
      });
      let seen = await admin.getRound(round.roundId);
      for (let attempt = 0; attempt < 600 && seen.masked.length < 5; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        seen = await admin.getRound(round.roundId);
      }
      expect(seen.phase).toBe(Phase.PHASE_MASKED_INPUT);
      expect(seen.masked.length).toBeGreaterThanOrEqual(5);
      expect(seen.masked.length).toBeLessThan(10);
      const acknowledgedBeforeKill = [...seen.masked];

      await coordinator.kill();
      coordinator = await CoordinatorProcess.start(consortium, port);
      expect(coordinator.events().some((event) => event.event === 'round-restored')).toBe(true);

      const results = await Promise.all(runs);
      // A member that was mid-call when the coordinator died says so and retries (issue 21's
      // retry notices); anything else on stderr is an error.
      const retryNotice = /^veilsum: \w+: UNAVAILABLE \(.*\); retrying, for up to \d+ s more$/;
      for (const result of results) {
        const otherLines = result.stderr
          .split('\n')
          .filter((line) => line !== '' && !retryNotice.test(line));
        expect({ code: result.code, otherLines }).toEqual({ code: 0, otherLines: [] });
      }
      const finished = await admin.getRound(round.roundId);
      expect(finished.phase).toBe(Phase.PHASE_DONE);
      expect(finished.included).toEqual(members.map((_, i) => i + 1));
      for (const index of acknowledgedBeforeKill) expect(finished.masked).toContain(index);
      expect(await admin.getAggregate(round.roundId)).toEqual(
        expectedSum(inputs, finished.included),
      );
    } finally {
      admin.close();
      await coordinator.stop();
    }
  }, 180_000);

  // The coordinator rejects any chunk over 1 MiB, so completing proves the stream was chunked.
  it('a round of 10^7-element vectors streams through (1 MiB chunks under the 4 MiB limit) and sums exactly', async () => {
    const coordinator = await CoordinatorProcess.start(consortium);
    const members = consortium.members.slice(0, 3);
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
    const clients = members.map((member) =>
      VeilsumClient.connect(consortium.profile(member, coordinator.port)),
    );
    const dimension = 10_000_000;
    try {
      const round = await admin.openRound({
        ...roundParams(members, 3, { first: 60_000, rest: 60_000 }),
        dimension,
        threshold: 2,
        adversary: Adversary.ADVERSARY_SEMI_HONEST,
      });
      const inputs = members.map((_, i) => new Uint32Array(dimension).fill(1000 * (i + 1) + 7));
      let bytesUploaded = 0;
      const results = await Promise.all(
        clients.map((client, i) =>
          client.participateQuantized(round, inputs[i]!, {
            onProgress: (progress) => {
              if (progress.step === 'masked-input' && progress.bytesSent)
                bytesUploaded = Math.max(bytesUploaded, progress.bytesSent);
            },
          }),
        ),
      );
      expect(results.every((result) => result.included)).toBe(true);
      expect(bytesUploaded).toBe(dimension * 4);
      const aggregate = await admin.getAggregate(round.roundId);
      expect(aggregate.length).toBe(dimension);
      expect(aggregate.every((value) => value === 1007 + 2007 + 3007)).toBe(true);
    } finally {
      for (const client of clients) client.close();
      admin.close();
      await coordinator.stop();
    }
  }, 120_000);
});
