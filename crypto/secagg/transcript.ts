import { sha256 } from '../sha256.ts';
import { encodeFields, encodeFieldsAfter, encodePrefixed } from '../bytes.ts';
import { hashFields } from '../commitment.ts';

/**
 * The exact bytes that are signed, committed or authenticated in a SecAgg+ round. Every payload
 * starts with a distinct label and the round binding (RoundContext.binding: round id, agreed
 * parameters hash and identity keys), so nothing signed for one purpose, round or parameter set
 * can be replayed as another.
 */
const LABEL = 'veilsum/v1/secagg';

export const advertiseKeysPayload = (
  binding: Uint8Array,
  sender: number,
  encryptionPublicKey: Uint8Array,
  maskingPublicKey: Uint8Array,
  sealingPublicKey: Uint8Array,
  seedCommitment: Uint8Array,
): Uint8Array =>
  encodePrefixed(
    [`${LABEL}/advertise-keys`],
    binding,
    sender,
    encryptionPublicKey,
    maskingPublicKey,
    sealingPublicKey,
    seedCommitment,
  );

export const shareBoxAssociatedData = (
  binding: Uint8Array,
  sender: number,
  recipient: number,
): Uint8Array => encodePrefixed([`${LABEL}/share-keys`], binding, sender, recipient);

/** The share-box leaf's first field, its label, as encodeFields writes it. */
const SHARE_BOX_LEAF_HEAD = encodeFields(`${LABEL}/share-box`);

/**
 * A share box as a leaf of its sender's Merkle tree: who it is for, the recipient's encryption key
 * it was sealed to — nothing commits a member to one AdvertiseKeys, so the key is named here for
 * a complaint to be judged against the key the sender used — and the ciphertext.
 */
export function shareBoxLeaf(
  recipient: number,
  recipientPublicKey: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  // encodeFields(`${LABEL}/share-box`, recipient, recipientPublicKey, ciphertext), the label's
  // field encoded once (the coordinator encodes one leaf per box, k per ShareKeys message).
  return encodeFieldsAfter(SHARE_BOX_LEAF_HEAD, recipient, recipientPublicKey, ciphertext);
}

/**
 * What a ShareKeys sender signs, once, with its identity key and with its sealing key A: the
 * round, itself, A, and the Merkle root (merkle.ts) over its boxes' leaves in recipient order.
 */
export const shareBoxesPayload = (
  binding: Uint8Array,
  sender: number,
  ephemeralPublicKey: Uint8Array,
  root: Uint8Array,
): Uint8Array =>
  encodePrefixed([`${LABEL}/share-boxes`], binding, sender, ephemeralPublicKey, root);

/** Binds a complaint's proof of the shared secret to its round, accuser and accused. */
export const shareComplaintContext = (
  binding: Uint8Array,
  accuser: number,
  accused: number,
): Uint8Array => encodeFields(`${LABEL}/share-complaint`, binding, accuser, accused);

/**
 * Binds a member's proof of its pairwise secret with a neighbour outside U3 (convicted, or asked
 * about in the second reveal) to its round, the revealing member and that neighbour.
 */
export const pairwiseRevealContext = (
  binding: Uint8Array,
  revealer: number,
  peer: number,
): Uint8Array => encodeFields(`${LABEL}/pairwise-reveal`, binding, revealer, peer);

/**
 * Binds a member's proof of possession of its masking key (AdvertiseKeysMessage.maskingKeyProof)
 * to its round and to the member, so another member that copies the key cannot reuse the proof.
 */
export const maskingKeyPossessionContext = (binding: Uint8Array, member: number): Uint8Array =>
  encodeFields(`${LABEL}/masking-key-possession`, binding, member);

/** U3 and the members convicted out of it (each conviction judged by the signer itself). */
export const survivorSetPayload = (
  binding: Uint8Array,
  survivors: readonly number[],
  convicted: readonly number[] = [],
): Uint8Array =>
  encodeFields(
    `${LABEL}/consistency-check`,
    binding,
    encodeIndexSet(survivors),
    encodeIndexSet(convicted),
  );

/**
 * A dealer's commitment to one share it deals (in its signed share box): the holder checks its
 * shares against them on receipt, and the server (when a reconstruction fails) checks each
 * revealed share against the dealer's, so shares that disagree are provably the dealer's (or,
 * revealed different, the holder's).
 * Hiding: a share is a uniform field element to anyone holding fewer than t of them.
 */
export const shareCommitment = (
  binding: Uint8Array,
  dealer: number,
  holder: number,
  kind: 'masking-key' | 'self-mask',
  encodedShare: Uint8Array,
): Uint8Array =>
  sha256(
    encodePrefixed([`${LABEL}/share-commitment`], binding, dealer, holder, kind, encodedShare),
  );

export const selfMaskCommitment = (
  binding: Uint8Array,
  owner: number,
  selfMaskSecret: Uint8Array,
): Uint8Array => hashFields(`${LABEL}/self-mask-commitment`, binding, owner, selfMaskSecret);

export function encodeIndexSet(indices: readonly number[]): Uint8Array {
  // Sets usually arrive sorted (U1 for the graph seed, U3): sorted again only when they are not.
  const sorted = isAscending(indices) ? indices : [...indices].sort((a, b) => a - b);
  const out = new Uint8Array(sorted.length * 2);
  for (let i = 0; i < sorted.length; i++) {
    const index = sorted[i]!;
    out[2 * i] = index >>> 8;
    out[2 * i + 1] = index & 0xff;
  }
  return out;
}

/** Whether `values` is in ascending order (non-decreasing: ties sort the same either way). */
export function isAscending(values: readonly number[]): boolean {
  for (let i = 1; i < values.length; i++) if (values[i - 1]! > values[i]!) return false;
  return true;
}
