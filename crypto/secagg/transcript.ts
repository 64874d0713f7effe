import { encodeFields } from '../bytes.ts';
import { hashFields } from '../commitment.ts';

/**
 * The exact bytes that are signed, committed or authenticated in a SecAgg+ round. Every payload
 * starts with a distinct label and the round id, so nothing signed for one purpose or round can
 * be replayed as another.
 */
const LABEL = 'veilsum/v1/secagg';

export const advertiseKeysPayload = (
  roundId: string,
  sender: number,
  encryptionPublicKey: Uint8Array,
  maskingPublicKey: Uint8Array,
): Uint8Array =>
  encodeFields(`${LABEL}/advertise-keys`, roundId, sender, encryptionPublicKey, maskingPublicKey);

export const shareBoxAssociatedData = (
  roundId: string,
  sender: number,
  recipient: number,
): Uint8Array => encodeFields(`${LABEL}/share-keys`, roundId, sender, recipient);

export const survivorSetPayload = (roundId: string, survivors: readonly number[]): Uint8Array =>
  encodeFields(`${LABEL}/consistency-check`, roundId, encodeIndexSet(survivors));

export const selfMaskCommitment = (
  roundId: string,
  owner: number,
  selfMaskSecret: Uint8Array,
): Uint8Array => hashFields(`${LABEL}/self-mask-commitment`, roundId, owner, selfMaskSecret);

export function encodeIndexSet(indices: readonly number[]): Uint8Array {
  const sorted = [...indices].sort((a, b) => a - b);
  const out = new Uint8Array(sorted.length * 2);
  sorted.forEach((index, i) => {
    out[2 * i] = index >>> 8;
    out[2 * i + 1] = index & 0xff;
  });
  return out;
}
