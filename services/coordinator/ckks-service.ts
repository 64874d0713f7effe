import * as grpc from '@grpc/grpc-js';
import {
  ciphertextRange,
  InvalidEncryptionProofError,
  maxProofLength,
  PROOF_HEADER_BYTES,
  proofRange,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';
import type { PendingUpdate } from '../../crypto/ckks/engine.ts';
import { CkksVerifyPool } from '../compute/ckks-verify-pool.ts';
import { PROOF } from '../../crypto/ckks/parameters.ts';
import {
  type CkksServiceServer,
  type EncryptedUploadChunk,
  type EncryptedUploadReceipt,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { invalidArgument, toServiceError } from '../../sdk/common/grpc-errors.ts';
import type { CoordinatorState } from './coordinator-state.ts';
import type { CkksRound } from './ckks-round.ts';
import { receiveUploadStream } from './upload-stream.ts';

/** Refusals that are the uploading member's doing (not limits, aborts or cancellations). */
const MEMBERS_FAULT = new Set<number>([grpc.status.INVALID_ARGUMENT, grpc.status.UNAUTHENTICATED]);

/** CkksService: members fetch the round's encryption key and stream their encrypted updates. */
export function ckksService(state: CoordinatorState): CkksServiceServer {
  let verifyPool: CkksVerifyPool | undefined;
  const verifier = (): CkksVerifyPool =>
    (verifyPool ??= new CkksVerifyPool(state.ckks!.key.parameterSet, state.ckks!.key.publicKey));
  return {
    getEncryptionKey: state.unary('GetEncryptionKey', async (call) => {
      const { round, index } = state.ckksParticipant(call, call.request.roundId);
      await state.requireConsent(round, index);
      const { key, engine } = state.ckks!;
      return {
        roundId: round.id,
        parameterSet: key.parameterSet,
        publicKey: Buffer.from(key.publicKey),
        keySha256: Buffer.from(key.keySha256),
        ciphertexts: round.chunks,
        valuesPerCiphertext: engine.valuesPerCiphertext,
      };
    }),
    uploadEncrypted: (call, callback) => receiveEncryptedUpload(state, verifier, call, callback),
  };
}

/**
 * Streams an encrypted upload: every ciphertext is checked as it arrives and written to a
 * temporary file, and every batch's encryption proof is verified when its last piece arrives
 * (crypto/ckks/encryption-proof.ts: each c1 is v·a + e1 for short v, e1 under the round's key);
 * only a complete upload with the announced number of valid, proved ciphertexts under the
 * round's key is added to the sum, made durable and acknowledged. Anything else is answered
 * INVALID_ARGUMENT (naming the ciphertext, or the batch a failing proof covers) and leaves the
 * sum and the disk unchanged.
 */
function receiveEncryptedUpload(
  state: CoordinatorState,
  verifier: () => CkksVerifyPool,
  call: grpc.ServerReadableStream<EncryptedUploadChunk, EncryptedUploadReceipt>,
  callback: grpc.sendUnaryData<EncryptedUploadReceipt>,
): void {
  let round: CkksRound | undefined;
  let index = 0;
  let expected = 0;
  let receiptSignature: Uint8Array = new Uint8Array(0);
  let pending: PendingUpdate | undefined;
  let statement: ProofStatement | undefined;
  // Ciphertexts received since the last verified proof, and the proof for them: its 48-byte
  // header is read once, then the rest is copied into ONE buffer of the length the header
  // claims (allocated, and counted against the upload limits, only after that length is
  // checked), so a proof costs O(its length) whatever the size and number of its messages.
  let unproved: Uint8Array[] = [];
  let proved = 0;
  let proofHeader = new Uint8Array(PROOF_HEADER_BYTES);
  let proofHeaderBytes = 0;
  let proof: Uint8Array | undefined;
  let proofBytes = 0;
  const proofs: Uint8Array[] = [];
  // Proofs are verified on worker threads while the stream goes on; the first failure refuses
  // the upload at the next message or at the end (without waiting for the rest), and nothing
  // counts before all have passed. Once the upload is refused (the answer) or its member goes
  // away before its end (`abandoned`, from the upload stream), its queued verifications are
  // dropped (`cancel`).
  const verifications: Promise<void>[] = [];
  const cancel = new AbortController();
  let refusal: Error | undefined;
  const receiveProofPiece = (piece: Uint8Array, hold: (bytes: number) => void) => {
    if (unproved.length === 0)
      throw invalidArgument(
        `a proof arrived after ciphertext ${proved - 1} with no unproved ciphertext before it`,
      );
    const first = proved;
    const range = ciphertextRange(first, unproved.length);
    let offset = 0;
    if (proof === undefined) {
      const take = Math.min(piece.length, PROOF_HEADER_BYTES - proofHeaderBytes);
      proofHeader.set(piece.subarray(0, take), proofHeaderBytes);
      proofHeaderBytes += take;
      offset = take;
      if (proofHeaderBytes < PROOF_HEADER_BYTES) return;
      let claimed: { first: number; count: number; length: number };
      try {
        claimed = proofRange(proofHeader);
      } catch (error) {
        throw invalidArgument(`${range}: ${(error as Error).message}`);
      }
      if (claimed.first !== first || claimed.count !== unproved.length)
        throw invalidArgument(
          `${range}: the proof that follows is for ${ciphertextRange(claimed.first, claimed.count)}`,
        );
      // A proof's header says its length (responses are Rice-coded): at most maxProofLength.
      const most = maxProofLength(state.ckks!.engine, unproved.length);
      if (claimed.length < PROOF_HEADER_BYTES)
        throw invalidArgument(
          `${range}: the proof claims ${claimed.length} bytes, shorter than its ${PROOF_HEADER_BYTES}-byte header`,
        );
      if (claimed.length > most)
        throw invalidArgument(
          `${range}: the proof claims ${claimed.length} bytes; ${unproved.length} ciphertexts take at most ${most}`,
        );
      // The proof is held in memory until the upload ends: it counts like staged bytes.
      hold(claimed.length);
      proof = new Uint8Array(claimed.length);
      proof.set(proofHeader);
      proofBytes = PROOF_HEADER_BYTES;
    }
    const rest = piece.length - offset;
    if (proofBytes + rest > proof.length)
      throw invalidArgument(`${range}: the proof is longer than ${proof.length} bytes`);
    proof.set(piece.subarray(offset), proofBytes);
    proofBytes += rest;
    if (proofBytes < proof.length) return;
    const verified = verifier()
      .verify(statement!, first, unproved, proof, cancel.signal)
      .catch((error: unknown) => {
        refusal ??=
          error instanceof InvalidEncryptionProofError
            ? invalidArgument(error.message)
            : (error as Error);
        cancel.abort();
        throw refusal;
      });
    verified.catch(() => undefined); // awaited by `finish`; a stream refused before needs no answer
    verifications.push(verified);
    proofs.push(proof);
    proved += unproved.length;
    unproved = [];
    proofHeader = new Uint8Array(PROOF_HEADER_BYTES);
    proofHeaderBytes = 0;
    proof = undefined;
    proofBytes = 0;
  };
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
        statement = {
          roundId: round.id,
          paramsHash: round.paramsHash,
          keySha256: state.ckks!.key.keySha256,
          memberId: round.roster[index - 1]!.memberId,
          totalCiphertexts: expected,
        };
        pending = round.beginUpload();
        return { roundId: round.id, directory: state.store.roundDirectory(round.id) };
      },
      data: (chunk, hold) => {
        if (refusal) throw refusal;
        if (chunk.content?.$case === 'proof') {
          receiveProofPiece(chunk.content.value, hold);
          return new Uint8Array(0);
        }
        if (chunk.content?.$case !== 'ciphertext')
          throw invalidArgument('expected a ciphertext or a proof');
        const position = pending!.size;
        if (proofHeaderBytes > 0)
          throw invalidArgument(
            `ciphertext ${position} arrived inside the proof for ${ciphertextRange(proved, unproved.length)}: send each proof whole after its ciphertexts`,
          );
        if (unproved.length >= PROOF.maxBatch)
          throw invalidArgument(
            `ciphertext ${position}: at most ${PROOF.maxBatch} ciphertexts may precede their proof`,
          );
        try {
          pending!.push(chunk.content.value);
        } catch (error) {
          throw invalidArgument(`ciphertext ${position}: ${(error as Error).message}`);
        }
        unproved.push(chunk.content.value);
        return chunk.content.value;
      },
      finish: async (temporaryPath, digest, bytes) => {
        const target = round!;
        if (pending!.size !== expected) {
          throw invalidArgument(
            `upload is truncated: ${pending!.size} of ${expected} ciphertexts arrived; nothing was stored`,
          );
        }
        if (proved !== expected) {
          throw invalidArgument(
            `${ciphertextRange(proved, expected - proved)}: no complete encryption proof arrived; nothing was stored`,
          );
        }
        // Rejects at the first failing proof, without waiting for the others (dropped).
        await Promise.all(verifications);
        // Consent is checked again when the update arrives: it may have been revoked meanwhile.
        await state.requireConsent(target, index);
        target.acceptUpload(index, pending!, temporaryPath, digest, receiptSignature, proofs);
        state.uploadAccepted('UploadEncrypted', target.id, index, bytes, digest);
        return { roundId: target.id, ciphertexts: expected, sha256: Buffer.from(digest) };
      },
      // A member that goes away before its upload ends needs no more verifications (once it
      // has ended, `finish` commits or refuses it whatever the member does).
      abandoned: () => cancel.abort(),
    },
    (error, reply) => {
      if (error) cancel.abort();
      pending?.discard();
      // A malformed upload counts against the member's refused-upload cap for the round.
      if (error && round !== undefined && MEMBERS_FAULT.has(toServiceError(error).code))
        round.uploadRefused(index);
      if (error) state.fail('UploadEncrypted', error, (e) => callback(e));
      else callback(null, reply);
    },
  );
}
