/* eslint-disable @typescript-eslint/require-await -- fakes of async clients that answer at once */
import { afterEach, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { MemberServiceClient, type ResultChunk } from '../../proto/gen/veilsum/v1/member.ts';
import { Mode, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { serveMemberService } from '../support/member-service-server.ts';

/**
 * Attack (a reader of the bank's peer): open GetResult on a large finished round and cancel it
 * (or stop reading) after the header. The peer streams the aggregate from the coordinator piece
 * by piece; its one channel to the coordinator has 16 streams (the coordinator's
 * streamsPerConnection) shared with the peer's round traffic. A coordinator stream the peer never
 * releases is a slot taken from the bank's participation for up to AWAIT_DEADLINE_MS (15 min).
 */
const DIMENSION = 16 * (1 << 20); // 64 MiB of uint32 sums, 128 MiB of float64: above any window
const CHUNK_WORDS = 1 << 20;

describe('GetResult, a reader that cancels', () => {
  let server: grpc.Server | undefined;
  afterEach(() => server?.forceShutdown());

  it('releases the coordinator stream once the reader has cancelled', async () => {
    let released = false;
    let pulled = 0;
    const round = {
      roundId: 'm/round-1',
      phase: Phase.PHASE_DONE,
      roster: [{ memberId: 'bank-a' }, { memberId: 'bank-b' }],
      included: [1, 2],
      aggregateSha256: new Uint8Array(32),
      missing: [],
      params: {
        modelId: 'm',
        mode: Mode.MODE_SECAGG,
        dimension: DIMENSION,
        quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
      },
    };
    const client = {
      getRound: async () => round,
      // The coordinator's stream: released (finally) when the peer stops iterating it.
      aggregateChunks: async function* () {
        try {
          for (let word = 0; word < DIMENSION; word += CHUNK_WORDS) {
            pulled++;
            yield { offsetWords: word, data: Buffer.alloc(CHUNK_WORDS * 4) };
          }
        } finally {
          released = true;
        }
      },
    };
    const started = await serveMemberService({
      memberId: 'bank-a',
      queue: { all: () => [] },
      follower: { views: new Map() },
      client,
      callers: { bindCall: () => ({ commonName: 'reader', read: true, submit: [] }) },
    });
    server = started.server;
    const port = started.port;
    const reader = new MemberServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 8 << 20,
    });
    const call = reader.getResult({ roundId: 'm/round-1' });
    await new Promise<void>((resolve) =>
      call.once('data', (chunk: ResultChunk) => {
        expect(chunk.part?.$case).toBe('header');
        resolve();
      }),
    );
    call.on('error', () => {});
    call.cancel();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    reader.close();
    expect(released).toBe(true);
    // It stopped pulling the coordinator's chunks once the reader was gone.
    expect(pulled).toBeLessThan(DIMENSION / CHUNK_WORDS);
  }, 20_000);

  it("ends in an error when the streamed aggregate does not hash to the header's aggregate_sha256", async () => {
    const dimension = 1 << 16;
    const honest = Buffer.alloc(dimension * 4, 1);
    const round = {
      roundId: 'm/round-2',
      phase: Phase.PHASE_DONE,
      roster: [{ memberId: 'bank-a' }, { memberId: 'bank-b' }],
      included: [1, 2],
      // What the round was closed with (on the ledger and in the coordinator's Round).
      aggregateSha256: createHash('sha256').update(honest).digest(),
      missing: [],
      params: {
        modelId: 'm',
        mode: Mode.MODE_SECAGG,
        dimension,
        quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
      },
    };
    const client = {
      getRound: async () => round,
      // The coordinator lies partway: the second half is not the closed aggregate.
      aggregateChunks: async function* () {
        yield { offsetWords: 0, data: honest.subarray(0, honest.length / 2) };
        yield { offsetWords: dimension / 2, data: Buffer.alloc(honest.length / 2, 7) };
      },
    };
    const started = await serveMemberService({
      memberId: 'bank-a',
      queue: { all: () => [] },
      follower: { views: new Map() },
      client,
      callers: { bindCall: () => ({ commonName: 'reader', read: true, submit: [] }) },
    });
    server = started.server;
    const port = started.port;
    const reader = new MemberServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const outcome = await new Promise<string>((resolve) => {
      const call = reader.getResult({ roundId: 'm/round-2' });
      call.on('data', () => {});
      call.on('error', (error: grpc.ServiceError) => resolve(grpc.status[error.code]));
      call.on('end', () => resolve('OK'));
    });
    reader.close();
    expect(outcome).not.toBe('OK');
  }, 20_000);
});
