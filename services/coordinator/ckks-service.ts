import type * as grpc from '@grpc/grpc-js';
import type { PendingUpdate } from '../../crypto/ckks/engine.ts';
import {
  type CkksServiceServer,
  type EncryptedUploadChunk,
  type EncryptedUploadReceipt,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { invalidArgument } from '../common/grpc-errors.ts';
import type { CoordinatorState } from './coordinator-state.ts';
import type { CkksRound } from './ckks-round.ts';
import { receiveUploadStream } from './upload-stream.ts';

/** CkksService: members fetch the round's encryption key and stream their encrypted updates. */
export function ckksService(state: CoordinatorState): CkksServiceServer {
  return {
    getEncryptionKey: state.unary('GetEncryptionKey', async (call) => {
      const { round, index } = state.ckksParticipant(call, call.request.roundId);
      await state.ledger?.requireConsent(round.id, round.roster[index - 1]!.memberId);
      const { key, engine } = state.ckks!;
      return {
        roundId: round.id,
        parameterSet: key.parameterSet,
        publicKey: Buffer.from(key.publicKey),
        keySha256: Buffer.from(key.keySha256),
        ciphertexts: round.chunks,
        slots: engine.slots,
      };
    }),
    uploadEncrypted: (call, callback) => receiveEncryptedUpload(state, call, callback),
  };
}

/**
 * Streams an encrypted upload: every ciphertext is checked as it arrives and written to a
 * temporary file; only a complete upload with the announced number of valid ciphertexts under
 * the round's key is added to the sum, made durable and acknowledged. Anything else is answered
 * INVALID_ARGUMENT (naming the ciphertext) and leaves the sum and the disk unchanged.
 */
function receiveEncryptedUpload(
  state: CoordinatorState,
  call: grpc.ServerReadableStream<EncryptedUploadChunk, EncryptedUploadReceipt>,
  callback: grpc.sendUnaryData<EncryptedUploadReceipt>,
): void {
  let round: CkksRound | undefined;
  let index = 0;
  let expected = 0;
  let receiptSignature: Uint8Array = new Uint8Array(0);
  let pending: PendingUpdate | undefined;
  receiveUploadStream(
    call,
    state.uploads,
    {
      header: (chunk) => {
        if (chunk.content?.$case !== 'header') return undefined;
        if (round !== undefined) throw invalidArgument('the upload stream carries a second header');
        ({ round, index } = state.ckksParticipant(call, chunk.content.value.roundId));
        round.checkUploadAllowed(
          index,
          chunk.content.value.ciphertexts,
          chunk.content.value.keySha256,
        );
        expected = chunk.content.value.ciphertexts;
        receiptSignature = chunk.content.value.receiptSignature;
        pending = round.beginUpload();
        return { roundId: round.id, directory: state.store.roundDirectory(round.id) };
      },
      data: (chunk) => {
        if (chunk.content?.$case !== 'ciphertext') throw invalidArgument('expected a ciphertext');
        const position = pending!.size;
        try {
          pending!.push(chunk.content.value);
        } catch (error) {
          throw invalidArgument(`ciphertext ${position}: ${(error as Error).message}`);
        }
        return chunk.content.value;
      },
      finish: async (temporaryPath, digest, bytes) => {
        const target = round!;
        if (pending!.size !== expected) {
          throw invalidArgument(
            `upload is truncated: ${pending!.size} of ${expected} ciphertexts arrived; nothing was stored`,
          );
        }
        // Consent is checked again when the update arrives: it may have been revoked meanwhile.
        await state.ledger?.requireConsent(target.id, target.roster[index - 1]!.memberId);
        target.acceptUpload(index, pending!, temporaryPath, digest, receiptSignature);
        state.uploadAccepted('UploadEncrypted', target.id, index, bytes, digest);
        return { roundId: target.id, ciphertexts: expected, sha256: Buffer.from(digest) };
      },
    },
    (error, reply) => {
      pending?.discard();
      if (error) state.fail('UploadEncrypted', error, (e) => callback(e));
      else callback(null, reply);
    },
  );
}
