import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import {
  SecAggServiceClient,
  type UploadChunk,
  type UploadReceipt,
} from '../../proto/gen/veilsum/v1/secagg.ts';
import { tlsChannel } from '../../sdk/grpc-channel.ts';
import { Coordinator } from '../../services/coordinator/coordinator.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';

const IDLE_MS = 1_000;

describe('fault: upload streams that never send or never end', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  let client: SecAggServiceClient;
  beforeAll(async () => {
    consortium = await createConsortium(3, 'idle');
    coordinator = new Coordinator(
      {
        ...consortium.config,
        listen: '127.0.0.1:0',
        uploads: {
          streamsPerMember: 2,
          streams: 64,
          bytesPerMember: 1 << 20,
          bytes: 1 << 24,
          idleMs: IDLE_MS,
          totalMs: 60_000,
        },
      },
      pino({ level: 'silent' }),
    );
    await coordinator.start();
    const profile = consortium.profile(consortium.members[0]!, coordinator.port);
    const { credentials, channelOptions } = tlsChannel(profile);
    client = new SecAggServiceClient(profile.address, credentials, channelOptions);
  });
  afterAll(async () => {
    client.close();
    await coordinator.stop();
  });

  /** The stream's status code, or "still open" if it has no answer after `waitMs`. */
  function openSilentStream(waitMs: number): {
    stream: grpc.ClientWritableStream<UploadChunk>;
    outcome: Promise<string>;
  } {
    let stream!: grpc.ClientWritableStream<UploadChunk>;
    const outcome = new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('still open'), waitMs);
      stream = client.uploadMaskedInput(
        (error: grpc.ServiceError | null, _reply?: UploadReceipt) => {
          clearTimeout(timer);
          resolve(error ? grpc.status[error.code] : 'OK');
        },
      );
    });
    return { stream, outcome };
  }

  it('a stream that sends nothing is cut DEADLINE_EXCEEDED after the idle limit and frees its slot', async () => {
    const silent = [openSilentStream(10_000), openSilentStream(10_000)];
    // The member's two slots are taken: a third stream is refused at once.
    const third = openSilentStream(10_000);
    expect(await third.outcome).toBe('RESOURCE_EXHAUSTED');
    expect(await Promise.all(silent.map((s) => s.outcome))).toEqual([
      'DEADLINE_EXCEEDED',
      'DEADLINE_EXCEEDED',
    ]);
    // Cut streams gave their slots back.
    const later = openSilentStream(10_000);
    expect(await later.outcome).toBe('DEADLINE_EXCEEDED');
    for (const s of [...silent, third, later]) s.stream.cancel();
  }, 60_000);
});
