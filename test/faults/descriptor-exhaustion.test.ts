import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { seededRandom } from '../../crypto/random.ts';
import { Adversary, Mode, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import {
  SecAggServiceClient,
  type UploadChunk,
  type UploadReceipt,
} from '../../proto/gen/veilsum/v1/secagg.ts';
import { tlsChannel } from '../../sdk/grpc-channel.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { ServiceProcess } from './fault-harness.ts';

const DIMENSION = 1_000;
const OPEN_FILES = 256;
const ATTACK_STREAMS = 300;

function inputsFor(count: number): Uint32Array[] {
  const random = seededRandom(12);
  return Array.from({ length: count }, () => {
    const bytes = random(DIMENSION * 4);
    return new Uint32Array(bytes.buffer, bytes.byteOffset, DIMENSION).map((word) => word >>> 16);
  });
}

/** Opens `count` upload streams that send a valid header and then nothing, as member `profile`. */
function openIdleStreams(
  profile: ReturnType<Consortium['profile']>,
  roundId: string,
  count: number,
): {
  client: SecAggServiceClient;
  outcomes: Promise<string>[];
  streams: grpc.ClientWritableStream<UploadChunk>[];
} {
  const { credentials, channelOptions } = tlsChannel(profile);
  const client = new SecAggServiceClient(profile.address, credentials, channelOptions);
  const streams: grpc.ClientWritableStream<UploadChunk>[] = [];
  const outcomes = Array.from({ length: count }, () => {
    return new Promise<string>((resolve) => {
      const stream = client.uploadMaskedInput(
        (error: grpc.ServiceError | null, _?: UploadReceipt) =>
          resolve(error ? String(error.code) : 'OK'),
      );
      stream.write({
        content: { $case: 'header', value: { roundId, words: DIMENSION, complaints: [] } },
      });
      streams.push(stream);
    });
  });
  return { client, outcomes, streams };
}

describe('fault: one member opens hundreds of upload streams under ulimit -n 256', () => {
  let consortium: Consortium;
  beforeAll(async () => {
    consortium = await createConsortium(3, 'fd');
  });
  afterAll(() => undefined);

  it("the other members' uploads succeed, the sum is exact, and the attacker's streams are refused or cut", async () => {
    const { process: coordinator, port } = await ServiceProcess.coordinator(
      consortium.config,
      consortium.configPath,
      { openFiles: OPEN_FILES },
    );
    const limits = readFileSync(`/proc/${coordinator.child.pid}/limits`, 'utf8');
    expect(limits).toMatch(new RegExp(`Max open files\\s+${OPEN_FILES}\\s`));
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, port));
    const members = consortium.members.map((id) =>
      VeilsumClient.connect(consortium.profile(id, port)),
    );
    let attack: ReturnType<typeof openIdleStreams> | undefined;
    try {
      const round = await admin.openRound({
        modelId: 'fd-model',
        roundNumber: 1,
        mode: Mode.MODE_SECAGG,
        dimension: DIMENSION,
        quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
        threshold: 2,
        degree: 2,
        adversary: Adversary.ADVERSARY_SEMI_HONEST,
        members: consortium.members,
        deadlines: {
          advertiseKeysMs: 30_000,
          shareKeysMs: 30_000,
          maskedInputMs: 15_000,
          consistencyCheckMs: 30_000,
          unmaskingMs: 30_000,
        },
        corruptionRate: 0,
        // Member 1 never uploads (it attacks instead): the round completes with the other two.
        dropoutRate: 0.33,
        minContributors: 0,
        ckks: undefined,
      });
      const inputs = inputsFor(3);
      // Member 1 completes ShareKeys (so it may upload), then opens 300 streams instead.
      const runs = members.map((client, i) =>
        client.participateQuantized(round, inputs[i]!, {
          ...(i === 0 ? { dropBefore: 'masked-input' as const } : { delayUploadMs: 4_000 }),
        }),
      );
      let seen = await admin.getRound(round.roundId);
      for (let i = 0; i < 400 && seen.phase !== Phase.PHASE_MASKED_INPUT; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        seen = await admin.getRound(round.roundId);
      }
      expect(seen.phase).toBe(Phase.PHASE_MASKED_INPUT);
      attack = openIdleStreams(
        consortium.profile(consortium.members[0]!, port),
        round.roundId,
        ATTACK_STREAMS,
      );

      const results = await Promise.all(runs);
      const finished = await admin.waitForResult(round.roundId);
      expect(finished.phase).toBe(Phase.PHASE_DONE);
      expect(finished.included).toEqual([2, 3]);
      expect(results[1]!.included && results[2]!.included).toBe(true);
      const expected = new Uint32Array(DIMENSION);
      for (const index of finished.included) {
        const input = inputs[index - 1]!;
        for (let j = 0; j < DIMENSION; j++) expected[j]! += input[j]!;
      }
      expect(await admin.getAggregate(round.roundId)).toEqual(expected);

      // Every attacking stream was answered: most refused at once, the few admitted ones cut
      // when their round stopped taking uploads. None is left holding a descriptor.
      const outcomes = await Promise.all(attack.outcomes);
      const counts: Record<string, number> = {};
      for (const code of outcomes) counts[code] = (counts[code] ?? 0) + 1;
      expect(counts['8' /* RESOURCE_EXHAUSTED */]).toBeGreaterThanOrEqual(ATTACK_STREAMS - 8);
      expect(counts['0' /* OK */]).toBeUndefined();
      const partials = readdirSync(join(consortium.config.dataDir, 'blobs'), {
        recursive: true,
      }).filter((name) => String(name).endsWith('.partial'));
      expect(partials).toEqual([]);
      expect(coordinator.openFiles().filter((path) => path.endsWith('.partial'))).toEqual([]);
    } finally {
      for (const stream of attack?.streams ?? []) stream.cancel();
      attack?.client.close();
      for (const client of members) client.close();
      admin.close();
      await coordinator.kill('SIGTERM');
    }
  }, 120_000);
});
