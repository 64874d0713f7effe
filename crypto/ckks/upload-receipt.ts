import { encodeFields } from '../bytes.ts';
import { type Curve25519, ED25519_SIGNATURE_BYTES } from '../curve25519.ts';
import { assertBytes } from '../validate.ts';

/**
 * A member's signed receipt for its CKKS upload: Ed25519, with the key of its consortium
 * certificate, over (round id, params hash, SHA-256 of the upload's ciphertexts in order). The
 * receipts go on the ledger with RoundClosed, and a keyholder decrypts an aggregate only when it
 * is the homomorphic sum of exactly the receipted uploads — so a coordinator cannot present one
 * bank's re-randomised upload as "the sum of three contributors" (issue 10, item 6). The round
 * id is unique on the ledger (openRound refuses a second), and the params hash binds the key and
 * the minimum number of contributors, so a receipt is good for one round only.
 */
const LABEL = 'veilsum/v1/ckks/upload-receipt';

export function uploadReceiptPayload(
  roundId: string,
  paramsHash: Uint8Array,
  uploadSha256: Uint8Array,
): Uint8Array {
  assertBytes(paramsHash, 'params hash', 32);
  assertBytes(uploadSha256, 'upload SHA-256', 32);
  return encodeFields(LABEL, roundId, paramsHash, uploadSha256);
}

export function signUploadReceipt(
  curve: Curve25519,
  identitySecretKey: Uint8Array,
  roundId: string,
  paramsHash: Uint8Array,
  uploadSha256: Uint8Array,
): Uint8Array {
  return curve.sign(identitySecretKey, uploadReceiptPayload(roundId, paramsHash, uploadSha256));
}

/** False for a wrong signature (or one that is not 64 bytes); throws only on malformed hashes. */
export function verifyUploadReceipt(
  curve: Curve25519,
  identityKey: Uint8Array,
  roundId: string,
  paramsHash: Uint8Array,
  uploadSha256: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== ED25519_SIGNATURE_BYTES) return false;
  return curve.verify(
    identityKey,
    uploadReceiptPayload(roundId, paramsHash, uploadSha256),
    signature,
  );
}
