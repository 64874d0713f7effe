import type * as grpc from '@grpc/grpc-js';
import {
  type SecAggServiceServer,
  type ShareComplaint,
  type UploadChunk,
  type UploadReceipt,
} from '../../proto/gen/veilsum/v1/secagg.ts';
import {
  consistencyCheckToWire,
  keysBroadcastToWire,
  pairwiseRevealRequestToWire,
  seedCommitmentsToWire,
  sharesDeliveryToWire,
  unmaskingRequestToWire,
} from '../../proto/secagg-wire.ts';
import { invalidArgument } from '../../sdk/common/grpc-errors.ts';
import type { CoordinatorState } from './coordinator-state.ts';
import type { RoundRuntime, RoundStatus } from './round-runtime.ts';
import { receiveUploadStream } from './upload-stream.ts';

const MAX_CHUNK_BYTES = 1 << 20;

/**
 * SecAggService: the members' side of a SecAgg+ round (Bell et al. 2020), one handler per message
 * of the protocol; the Await calls answer when the round reaches the phase they wait for.
 */
export function secAggService(state: CoordinatorState): SecAggServiceServer {
  return {
    advertiseKeys: state.unary('AdvertiseKeys', async (call) => {
      const { runtime, index } = state.secAggParticipant(call, call.request.roundId);
      await state.requireConsent(runtime, index);
      runtime.advertiseKeys(index, call.request);
      return { roundId: runtime.id };
    }),
    awaitSeedCommitments: awaiting(state, 'AwaitSeedCommitments', 'seed-reveal', (runtime, index) =>
      seedCommitmentsToWire(runtime.seedCommitmentsFor(index)),
    ),
    revealSeed: state.unary('RevealSeed', (call) => {
      const { runtime, index } = state.secAggParticipant(call, call.request.roundId);
      runtime.revealSeed(index, call.request);
      return { roundId: runtime.id };
    }),
    awaitKeys: awaiting(state, 'AwaitKeys', 'share-keys', (runtime, index) =>
      keysBroadcastToWire(runtime.keysFor(index)),
    ),
    shareKeys: state.unary('ShareKeys', (call) => {
      const { runtime, index } = state.secAggParticipant(call, call.request.roundId);
      runtime.shareKeys(index, call.request);
      return { roundId: runtime.id };
    }),
    awaitShares: awaiting(state, 'AwaitShares', 'masked-input', (runtime, index) =>
      sharesDeliveryToWire(runtime.sharesFor(index)),
    ),
    uploadMaskedInput: (call, callback) => receiveMaskedInput(state, call, callback),
    awaitConsistencyCheck: awaiting(
      state,
      'AwaitConsistencyCheck',
      'consistency-check',
      (runtime, index) => consistencyCheckToWire(runtime.consistencyCheckFor(index)),
    ),
    signSurvivors: state.unary('SignSurvivors', (call) => {
      const { runtime, index } = state.secAggParticipant(call, call.request.roundId);
      runtime.signSurvivors(index, call.request);
      return { roundId: runtime.id };
    }),
    awaitUnmasking: awaiting(state, 'AwaitUnmasking', 'unmasking', (runtime, index) =>
      unmaskingRequestToWire(runtime.unmaskingRequestFor(index)),
    ),
    unmask: state.unary('Unmask', (call) => {
      const { runtime, index } = state.secAggParticipant(call, call.request.roundId);
      runtime.unmask(index, call.request);
      return { roundId: runtime.id };
    }),
    awaitPairwiseReveal: awaiting(
      state,
      'AwaitPairwiseReveal',
      'pairwise-reveal',
      (runtime, index) => pairwiseRevealRequestToWire(runtime.pairwiseRevealRequestFor(index)),
    ),
    revealPairwise: state.unary('RevealPairwise', (call) => {
      const { runtime, index } = state.secAggParticipant(call, call.request.roundId);
      runtime.revealPairwise(index, call.request);
      return { roundId: runtime.id };
    }),
  };
}

/**
 * Streams an upload into a temporary file (memory stays O(chunk)), hashing as it goes; only a
 * complete upload of exactly d words is accepted into the round, and only then made durable.
 * Anything else is answered INVALID_ARGUMENT and leaves nothing behind.
 */
function receiveMaskedInput(
  state: CoordinatorState,
  call: grpc.ServerReadableStream<UploadChunk, UploadReceipt>,
  callback: grpc.sendUnaryData<UploadReceipt>,
): void {
  let runtime: RoundRuntime | undefined;
  let index = 0;
  let received = 0;
  let complaints: ShareComplaint[] = [];
  receiveUploadStream(
    call,
    state.uploads,
    {
      header: (chunk) => {
        if (chunk.content?.$case !== 'header') return undefined;
        if (runtime !== undefined)
          throw invalidArgument('the upload stream carries a second header');
        ({ runtime, index } = state.secAggParticipant(call, chunk.content.value.roundId));
        runtime.checkUploadAllowed(index, chunk.content.value.words);
        complaints = chunk.content.value.complaints;
        return { roundId: runtime.id, directory: state.store.roundDirectory(runtime.id) };
      },
      data: (chunk) => {
        if (chunk.content?.$case !== 'data')
          throw invalidArgument('an upload chunk must carry data');
        const data = chunk.content.value;
        if (data.length > MAX_CHUNK_BYTES)
          throw invalidArgument(`chunk of ${data.length} bytes exceeds the 1 MiB chunk limit`);
        if (received + data.length > runtime!.dimension * 4) {
          throw invalidArgument(
            `upload is longer than the round length of ${runtime!.dimension} words (${runtime!.dimension * 4} bytes)`,
          );
        }
        received += data.length;
        return data;
      },
      finish: (temporaryPath, digest, bytes) => {
        const round = runtime!;
        if (bytes !== round.dimension * 4) {
          throw invalidArgument(
            `upload is truncated: ${bytes} of ${round.dimension * 4} bytes arrived; nothing was stored`,
          );
        }
        round.acceptUpload(index, temporaryPath, digest, complaints);
        state.uploadAccepted('UploadMaskedInput', round.id, index, bytes, digest);
        return Promise.resolve({
          roundId: round.id,
          words: round.dimension,
          sha256: Buffer.from(digest),
        });
      },
    },
    (error, reply) => {
      if (error) state.fail('UploadMaskedInput', error, (e) => callback(e));
      else callback(null, reply);
    },
  );
}

function awaiting<Response>(
  state: CoordinatorState,
  method: string,
  phase: RoundStatus,
  answer: (runtime: RoundRuntime, index: number) => Response,
): grpc.handleUnaryCall<{ roundId: string }, Response> {
  return (call, callback) => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    let participant: { runtime: RoundRuntime; index: number };
    try {
      participant = state.secAggParticipant(call, call.request.roundId);
    } catch (error) {
      state.fail(method, error, (e) => callback(e));
      return;
    }
    participant.runtime
      .waitForPhase(phase, controller.signal)
      .then(() => {
        const response = answer(participant.runtime, participant.index);
        state.metrics.requests.inc({ method, code: 'OK' });
        callback(null, response);
      })
      .catch((error: unknown) => state.fail(method, error, (e) => callback(e)));
  };
}
