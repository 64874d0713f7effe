import { EventEmitter } from 'node:events';
import type { CkksEngine } from '../../crypto/ckks/engine.ts';
import { maxProofLength } from '../../crypto/ckks/encryption-proof.ts';
import { ckksService } from '../../services/coordinator/ckks-service.ts';
import type { CoordinatorState } from '../../services/coordinator/coordinator-state.ts';
import { UploadLimits } from '../../services/coordinator/upload-limits.ts';

/**
 * The coordinator's real UploadEncrypted handler (services/coordinator/ckks-service.ts) over a
 * stand-in state: one round 'round-1' of `ciphertexts` ciphertexts whose only member is 'm'
 * (roster checks, consent and acceptance stubbed), uploads staged in `directory`. For tests of
 * the handler's own arithmetic (buffering, limits), which need no TLS, ledger or keyholders.
 */
export function standInUploadHandler(
  engine: CkksEngine,
  ciphertexts: number,
  directory: string,
  uploads = new UploadLimits(),
  /** The collective key the proof verifiers load (only needed when a proof is verified). */
  publicKey: Uint8Array = new Uint8Array(0),
) {
  const round = {
    id: 'round-1',
    paramsHash: new Uint8Array(32),
    roster: [{ memberId: 'm' }],
    checkUploadAllowed: () => undefined,
    beginUpload: () => engine.newSum(ciphertexts).begin(),
    uploadRefused: () => undefined,
    acceptUpload: () => undefined,
  };
  const state = {
    ckks: {
      engine,
      key: {
        parameterSet: engine.set.name,
        publicKey,
        keySha256: new Uint8Array(32),
      },
    },
    unary: () => () => undefined,
    ckksParticipant: () => ({ round, index: 1 }),
    requireConsent: () => Promise.resolve(),
    uploads,
    store: { roundDirectory: () => directory },
    uploadAccepted: () => undefined,
    fail: (_method: string, error: unknown, send: (e: unknown) => void) => send(error),
  } as unknown as CoordinatorState;
  const call = new StandInCall();
  const result: { answered: unknown } = { answered: 'not yet' };
  ckksService(state).uploadEncrypted(call as never, (error: unknown) => {
    result.answered = error;
  });
  const send = (content: unknown) => call.emit('data', { content });
  send({
    $case: 'header',
    value: {
      roundId: 'round-1',
      ciphertexts,
      keySha256: new Uint8Array(32),
      receiptSignature: new Uint8Array(64),
    },
  });
  return { call, result, send, uploads };
}

/** A stand-in server call from member 'm' (subject O of its certificate). */
export class StandInCall extends EventEmitter {
  getAuthContext() {
    return { sslPeerCertificate: { subject: { O: 'm' } } };
  }
}

/** A well-formed (all-zero) full ciphertext: it passes the wire checks. */
export const zeroCiphertext = (engine: CkksEngine): Uint8Array =>
  engine.packResidues(
    new Float64Array(2 * engine.set.polyModulusDegree * engine.dataRns.moduli.length),
  );

/**
 * A proof message with a well-formed header for batch k of one ciphertext, `maxProofLength`
 * long, its body zero: for tests whose verifier is stood in (the body is never checked).
 */
export function standInProof(engine: CkksEngine, k: number): Uint8Array {
  const length = maxProofLength(engine, 1);
  const proof = new Uint8Array(length);
  proof.set([0x56, 0x53, 0x50, 0x32]); // "VSP2"
  const view = new DataView(proof.buffer);
  view.setUint32(4, k, true);
  view.setUint32(8, 1, true);
  view.setUint32(12, length, true);
  return proof;
}
