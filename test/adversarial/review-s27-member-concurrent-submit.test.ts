import { afterEach, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MemberServiceClient,
  type SubmitUpdateResponse,
} from '../../proto/gen/veilsum/v1/member.ts';
import { Mode, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { serveMemberService } from '../support/member-service-server.ts';
import { UpdateQueue } from '../../services/member/update-queue.ts';

/**
 * Attack (a caller of the bank's peer with a submit role, or a client that retries too eagerly):
 * open two SubmitUpdate streams with one idempotency key — or two for one round — and send the
 * second while the first is still being received. The queue learns of an update only once its
 * values are written, so both streams passed its checks and both were queued: one update
 * submitted twice, or two updates from the bank in one round.
 */
const VALUES = 1 << 16;
const values = Buffer.alloc(VALUES * 4);
for (let i = 0; i < VALUES; i++) values.writeFloatLE((i % 200) / 1000, i * 4);
const sha256 = createHash('sha256').update(values).digest();

type Target = { $case: 'modelId'; value: string } | { $case: 'roundId'; value: string };

describe('SubmitUpdate, two streams at once', () => {
  let server: grpc.Server | undefined;
  let dataDir: string | undefined;
  afterEach(() => {
    server?.forceShutdown();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  async function start() {
    dataDir = mkdtempSync(join(tmpdir(), 'veilsum-concurrent-submit-'));
    const queue = new UpdateQueue(dataDir);
    const round = {
      roundId: 'm/round-1',
      phase: Phase.PHASE_ADVERTISE_KEYS,
      roster: [{ memberId: 'bank-a' }, { memberId: 'bank-b' }],
      params: {
        modelId: 'm',
        mode: Mode.MODE_SECAGG,
        dimension: VALUES,
        quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
      },
    };
    const started = await serveMemberService({
      memberId: 'bank-a',
      queue,
      follower: { views: new Map(), kick: () => {} },
      // eslint-disable-next-line @typescript-eslint/require-await -- a coordinator that answers at once
      client: { getRound: async () => round },
      callers: { bindCall: () => ({ commonName: 'scientist', read: true, submit: ['m'] }) },
    });
    server = started.server;
    const port = started.port;
    const client = new MemberServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return { queue, client };
  }

  /** Opens a stream, sends the header and the first half; `finish` sends the rest and ends. */
  function open(client: MemberServiceClient, target: Target, idempotencyKey: string) {
    let settle!: (outcome: { error?: grpc.ServiceError; response?: SubmitUpdateResponse }) => void;
    const outcome = new Promise<{ error?: grpc.ServiceError; response?: SubmitUpdateResponse }>(
      (resolve) => (settle = resolve),
    );
    const call = client.submitUpdate((error, response) => settle(error ? { error } : { response }));
    call.write({
      part: {
        $case: 'header',
        value: { target, values: VALUES, sha256, tensors: [], idempotencyKey, trainedFrom: '' },
      },
    });
    call.write({ part: { $case: 'chunk', value: values.subarray(0, values.length / 2) } });
    return {
      outcome,
      finish: () => {
        call.write({ part: { $case: 'chunk', value: values.subarray(values.length / 2) } });
        call.end();
      },
    };
  }

  const receiving = () => new Promise((resolve) => setTimeout(resolve, 300));

  it('queues one update when a second stream with the same idempotency key arrives mid-stream', async () => {
    const { queue, client } = await start();
    const first = open(client, { $case: 'modelId', value: 'm' }, 'key-1');
    await receiving();
    const second = open(client, { $case: 'modelId', value: 'm' }, 'key-1');
    second.finish();
    const refused = await second.outcome;
    first.finish();
    const accepted = await first.outcome;
    expect(accepted.error).toBeUndefined();
    expect(refused.error?.code).toBe(grpc.status.ABORTED);
    expect(refused.error?.details).toMatch(/idempotency key key-1 is still being received/);
    expect(queue.all().map((record) => record.idempotencyKey)).toEqual(['key-1']);
    // A retry once the first has ended is answered with the queued update, not queued again.
    const retry = open(client, { $case: 'modelId', value: 'm' }, 'key-1');
    retry.finish();
    const again = await retry.outcome;
    client.close();
    expect(again.response?.update?.updateId).toBe(accepted.response?.update?.updateId);
    expect(queue.all()).toHaveLength(1);
  }, 20_000);

  it('queues one update for a round when two streams for it overlap', async () => {
    const { queue, client } = await start();
    const first = open(client, { $case: 'roundId', value: 'm/round-1' }, 'key-a');
    await receiving();
    const second = open(client, { $case: 'roundId', value: 'm/round-1' }, 'key-b');
    second.finish();
    const refused = await second.outcome;
    first.finish();
    const accepted = await first.outcome;
    client.close();
    expect(accepted.error).toBeUndefined();
    expect(refused.error?.code).toBe(grpc.status.ABORTED);
    expect(queue.all().map((record) => record.roundId)).toEqual(['m/round-1']);
  }, 20_000);
});
