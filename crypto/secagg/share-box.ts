import { AEAD_OVERHEAD_BYTES, AuthenticationError, openAead, sealAead } from '../aead.ts';
import {
  CURVE25519_KEY_BYTES,
  type Curve25519,
  ED25519_SIGNATURE_BYTES,
  LowOrderPointError,
} from '../curve25519.ts';
import { createHash } from 'node:crypto';
import { equalBytes } from '../bytes.ts';
import { liftPeerKey, proveSharedSecret, verifySharedSecret, x25519FromEd25519 } from '../dleq.ts';
import { deriveKey } from '../kdf.ts';
import type { RandomSource } from '../random.ts';
import { checkEncodedShare, SHARE_BYTES } from '../shamir.ts';
import { type MerkleProofStep, merkleRootFromProof, merkleTree } from '../merkle.ts';
import type { EncryptedShare, ShareBox, ShareComplaint, ShareKeysMessage } from './messages.ts';
import {
  shareBoxAssociatedData,
  shareBoxesPayload,
  shareBoxLeaf,
  shareCommitment,
  shareComplaintContext,
} from './transcript.ts';

/**
 * Share boxes: u's two Shamir shares for each holder v (of s_u^SK and b_u), sealed so that the
 * coordinator relaying them can neither read nor alter them, and so that a complaint about one can
 * be checked by anyone while opening nothing else.
 *
 * - u seals all its boxes under one key of its own for the round, advertised and signed in its
 *   AdvertiseKeys: a fresh Ed25519 key pair (σ, A = a·B) whose scalar a also serves as the X25519
 *   secret (E = u(A), RFC 7748 §4.1). K_{u→v} = KDF(X25519(a, C_v), u, v, A, C_v). The recipient's
 *   complaint reveals X25519(c_v, E), which opens this box and no other: u's other boxes are
 *   sealed to other recipient keys (X25519(c_w, E) stays a Diffie–Hellman problem), every other
 *   sender's box to v is under that sender's own A, and v's own box to u under v's.
 * - A box that opens under K is u's: only u (knowing a) or v (knowing c_v) can compute K, and v
 *   took A from u's AdvertiseKeys, whose signature it verified before sharing its own keys. So a
 *   recipient needs no signature check for a box that opens and holds valid shares.
 * - A signs too: a Schnorr proof that the sender knows a. Without it a sender colluding with the
 *   coordinator could advertise λ·A' — A' an honest member's — and a complaint's X25519(c_v, λ·E')
 *   would give away X25519(c_v, E') and so the honest box: the recipient would be a
 *   Diffie–Hellman oracle. With it, what a complaint reveals, a·C_v, is something the accused
 *   could compute itself.
 * - The sender signs once per round, with its identity key and with A, over (round binding,
 *   sender, A, Merkle root of its boxes' leaves), each leaf being (recipient, C_v, ciphertext).
 *   A delivered box carries its path to that root, so each box is still signed on its own. A box
 *   that does not open and does not verify was altered or forged in transit — by the coordinator,
 *   since it verifies every signature on arrival — and the recipient stops instead of
 *   complaining. So only the sender can cause a complaint, by signing a box that does not open:
 *   an honest sender never is accused. C_v is in the leaf because nothing else fixes which key v
 *   advertised: a recipient that signs two AdvertiseKeys (C_1 shown to the sender, C_2 to the
 *   judge) would otherwise get an honest box judged under C_2, where it does not open. The judge
 *   takes C_v from the leaf.
 *   One signature per message instead of two per box: the sender signs twice, not 2k times, the
 *   coordinator verifies n signatures, not n·k, and a recipient verifies only boxes that fail.
 * - The evidence (`dleq.ts`) proves the revealed secret: a wrong one is the accuser's fault.
 * The recipient checks the proof of knowledge only for a box that does not open, before complaining.
 */
export const SHARE_BOX_PLAINTEXT_BYTES = 2 * SHARE_BYTES;
const SEALED_BYTES = SHARE_BOX_PLAINTEXT_BYTES + AEAD_OVERHEAD_BYTES;
const SHARE_COMMITMENT_BYTES = 32;
/**
 * A box's bytes: the AEAD ciphertext of both shares, then the dealer's commitments to each share
 * (transcript.ts `shareCommitment`: s^SK's, then b's). The sender signs them with the box (they
 * are in its Merkle leaf); the recipient checks its shares against them on opening — a box whose
 * shares do not match is complained about like one that does not open — and the server, when a
 * reconstruction from t shares does not match the owner's commitment, checks each revealed share
 * against them, so a dealer that deals shares off its polynomial is named, never the honest
 * holder that revealed what it was dealt.
 */
export const SHARE_BOX_CIPHERTEXT_BYTES = SEALED_BYTES + 2 * SHARE_COMMITMENT_BYTES;

/** The AEAD ciphertext in a box's bytes (what its key opens). */
export const shareBoxSealedPart = (ciphertext: Uint8Array): Uint8Array =>
  ciphertext.subarray(0, SEALED_BYTES);

/** The dealer's commitments in a box's bytes (undefined for bytes of the wrong length). */
export function shareBoxCommitments(
  ciphertext: Uint8Array,
): { readonly maskingKey: Uint8Array; readonly selfMask: Uint8Array } | undefined {
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length !== SHARE_BOX_CIPHERTEXT_BYTES)
    return undefined;
  return {
    maskingKey: ciphertext.subarray(SEALED_BYTES, SEALED_BYTES + SHARE_COMMITMENT_BYTES),
    selfMask: ciphertext.subarray(SEALED_BYTES + SHARE_COMMITMENT_BYTES),
  };
}

export interface ShareBoxParties {
  readonly binding: Uint8Array;
  readonly sender: number;
  readonly recipient: number;
}

/** K_{sender→recipient} from the X25519 secret the box's ephemeral key agreed. */
export function shareBoxKey(
  parties: ShareBoxParties,
  sharedSecret: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  recipientPublicKey: Uint8Array,
): Uint8Array {
  // The pair is bound with its keys in order (E is the sender's): the key names its direction.
  return deriveKey(
    sharedSecret,
    'secagg/share-box',
    parties.binding,
    [parties.sender, parties.recipient],
    [ephemeralPublicKey, recipientPublicKey],
  );
}

export interface SealedShareBoxes {
  readonly encryptedShares: ShareBox[];
  readonly signature: Uint8Array;
  readonly ephemeralSignature: Uint8Array;
}

/**
 * Seals each recipient's plaintext (both shares) to its encryption key under the sender's
 * sealing key (seed σ, public A), and signs the boxes once (identity key and A, over their root).
 */
export function sealShareBoxes(
  binding: Uint8Array,
  sender: number,
  recipients: readonly {
    readonly recipient: number;
    readonly publicKey: Uint8Array;
    readonly plaintext: Uint8Array;
  }[],
  sealing: { readonly seed: Uint8Array; readonly publicKey: Uint8Array },
  identitySecretKey: Uint8Array,
  curve: Curve25519,
  random: RandomSource,
): SealedShareBoxes {
  // Ed25519's secret scalar is clamp(SHA-512(σ)[0..32]); X25519 clamps the same bytes the same way.
  const scalar = new Uint8Array(createHash('sha512').update(sealing.seed).digest()).subarray(0, 32);
  const encryptedShares: ShareBox[] = [];
  const leaves: Uint8Array[] = [];
  for (const { recipient, publicKey, plaintext } of recipients) {
    const parties = { binding, sender, recipient };
    const key = shareBoxKey(
      parties,
      curve.x25519SharedSecret(scalar, publicKey),
      sealing.publicKey,
      publicKey,
    );
    const ciphertext = new Uint8Array(SHARE_BOX_CIPHERTEXT_BYTES);
    ciphertext.set(sealAead(key, plaintext, associatedData(parties), random), 0);
    ciphertext.set(
      shareCommitment(
        binding,
        sender,
        recipient,
        'masking-key',
        plaintext.subarray(0, SHARE_BYTES),
      ),
      SEALED_BYTES,
    );
    ciphertext.set(
      shareCommitment(binding, sender, recipient, 'self-mask', plaintext.subarray(SHARE_BYTES)),
      SEALED_BYTES + SHARE_COMMITMENT_BYTES,
    );
    encryptedShares.push({ peer: recipient, ciphertext });
    leaves.push(shareBoxLeaf(recipient, publicKey, ciphertext));
  }
  const payload = shareBoxesPayload(binding, sender, sealing.publicKey, merkleTree(leaves).root);
  return {
    encryptedShares,
    signature: curve.sign(identitySecretKey, payload),
    ephemeralSignature: curve.sign(sealing.seed, payload),
  };
}

/**
 * The boxes of a ShareKeys message in their delivered form (owner `message.sender`, each with its
 * path to the signed root), or undefined when the sender's identity signature over them does not
 * verify. `sealingKey` is the sender's advertised A, `recipientKey` gives each recipient's
 * advertised encryption key. One verification for all of the message's boxes: what the
 * coordinator checks on arrival.
 */
export function signedShareBoxes(
  binding: Uint8Array,
  message: ShareKeysMessage,
  sealingKey: Uint8Array,
  senderIdentityKey: Uint8Array,
  recipientKey: (recipient: number) => Uint8Array,
  curve: Curve25519,
): EncryptedShare[] | undefined {
  const { sender, signature, ephemeralSignature } = message;
  if (
    !isBytes(sealingKey, CURVE25519_KEY_BYTES) ||
    !isBytes(signature, ED25519_SIGNATURE_BYTES) ||
    !isBytes(ephemeralSignature, ED25519_SIGNATURE_BYTES) ||
    message.encryptedShares.some((box) => !(box.ciphertext instanceof Uint8Array))
  ) {
    return undefined;
  }
  const { root, proofs } = merkleTree(
    message.encryptedShares.map((box) =>
      shareBoxLeaf(box.peer, recipientKey(box.peer), box.ciphertext),
    ),
  );
  const payload = shareBoxesPayload(binding, sender, sealingKey, root);
  if (!curve.verify(senderIdentityKey, payload, signature)) return undefined;
  return message.encryptedShares.map((box, i) => ({
    peer: sender,
    ephemeralPublicKey: sealingKey,
    ciphertext: box.ciphertext,
    signature,
    ephemeralSignature,
    path: proofs[i]!,
  }));
}

/**
 * Whether a delivered box carries its sender's signature as sealed to `recipientPublicKey` (the
 * first thing a recipient checks, with its own key): its leaf, up its path, is the root signed.
 */
export function isSignedBySender(
  parties: ShareBoxParties,
  box: EncryptedShare,
  senderIdentityKey: Uint8Array,
  recipientPublicKey: Uint8Array,
  curve: Curve25519,
): boolean {
  if (
    !isBytes(box.ephemeralPublicKey, CURVE25519_KEY_BYTES) ||
    !isBytes(box.signature, ED25519_SIGNATURE_BYTES) ||
    !isBytes(box.ephemeralSignature, ED25519_SIGNATURE_BYTES) ||
    !(box.ciphertext instanceof Uint8Array) ||
    !isPath(box.path)
  ) {
    return false;
  }
  return curve.verify(
    senderIdentityKey,
    payloadOf(parties, box, recipientPublicKey),
    box.signature,
  );
}

/** Whether the sender proved it knows the ephemeral secret (A's signature on the root). */
function knowsEphemeralSecret(
  parties: ShareBoxParties,
  box: EncryptedShare,
  recipientPublicKey: Uint8Array,
  curve: Curve25519,
): boolean {
  return curve.verify(
    box.ephemeralPublicKey,
    payloadOf(parties, box, recipientPublicKey),
    box.ephemeralSignature,
  );
}

function payloadOf(
  parties: ShareBoxParties,
  box: EncryptedShare,
  recipientPublicKey: Uint8Array,
): Uint8Array {
  const leaf = shareBoxLeaf(parties.recipient, recipientPublicKey, box.ciphertext);
  return shareBoxesPayload(
    parties.binding,
    parties.sender,
    box.ephemeralPublicKey,
    merkleRootFromProof(leaf, box.path),
  );
}

/** A path longer than this is no path of a roster-sized tree (2^16 members). */
const MAX_PATH_STEPS = 16;

function isPath(path: readonly MerkleProofStep[]): boolean {
  return (
    path instanceof Array &&
    path.length <= MAX_PATH_STEPS &&
    path.every((step) => isBytes(step.sibling, 32) && typeof step.siblingOnLeft === 'boolean')
  );
}

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length;
}

/**
 * Both shares from a box, or undefined when it does not open under K or holds no valid share at
 * the recipient's index. `sealingX25519` is E = u(A) for the sender's advertised A (undefined when
 * A has no X25519 form: then no box of that sender opens). A box that opens is its sender's (only
 * it and the recipient can compute K); one that does not is the sender's fault only if
 * `isSignedBySender`, else the coordinator's.
 */
export function openShareBox(
  parties: ShareBoxParties,
  sealingPublicKey: Uint8Array,
  sealingX25519: Uint8Array | undefined,
  ciphertext: Uint8Array,
  recipientSecretKey: Uint8Array,
  recipientPublicKey: Uint8Array,
  curve: Curve25519,
): Uint8Array | undefined {
  if (sealingX25519 === undefined) return undefined;
  let shared: Uint8Array;
  try {
    shared = curve.x25519SharedSecret(recipientSecretKey, sealingX25519);
  } catch (error) {
    if (error instanceof LowOrderPointError) return undefined;
    throw error;
  }
  return openWithSecret(parties, sealingPublicKey, ciphertext, shared, recipientPublicKey);
}

function openWithSecret(
  parties: ShareBoxParties,
  sealingPublicKey: Uint8Array,
  ciphertext: Uint8Array,
  sharedSecret: Uint8Array,
  recipientPublicKey: Uint8Array,
): Uint8Array | undefined {
  const commitments = shareBoxCommitments(ciphertext);
  if (commitments === undefined) return undefined;
  const key = shareBoxKey(parties, sharedSecret, sealingPublicKey, recipientPublicKey);
  let plaintext: Uint8Array;
  try {
    plaintext = openAead(key, ciphertext.subarray(0, SEALED_BYTES), associatedData(parties));
  } catch (error) {
    if (error instanceof AuthenticationError) return undefined;
    throw error;
  }
  return holdsSharesFor(plaintext, parties, commitments) ? plaintext : undefined;
}

/**
 * The recipient's complaint about a signed box that did not open: X25519(c_v, E) with its proof
 * — only when the sender proved it knows E's secret (so the revealed value is one it could compute
 * itself). No evidence: the box's ephemeral key is unproven or not of prime order, which the signed
 * box shows by itself.
 */
export function shareComplaint(
  parties: ShareBoxParties,
  box: EncryptedShare,
  recipientSecretKey: Uint8Array,
  recipientPublicKey: Uint8Array,
  curve: Curve25519,
  random: RandomSource,
): ShareComplaint {
  const ephemeralX25519 = knowsEphemeralSecret(parties, box, recipientPublicKey, curve)
    ? x25519FromEd25519(box.ephemeralPublicKey)
    : undefined;
  const evidence =
    ephemeralX25519 === undefined
      ? undefined
      : proveSharedSecret(
          recipientSecretKey,
          ephemeralX25519,
          shareComplaintContext(parties.binding, parties.recipient, parties.sender),
          random,
        );
  return evidence === undefined
    ? { accused: parties.sender }
    : { accused: parties.sender, evidence };
}

export type ComplaintVerdict =
  | { readonly guilty: 'accused'; readonly reason: string }
  | { readonly guilty: 'accuser'; readonly reason: string };

/**
 * Who broke the protocol, from public data only: the box as its sender signed it, the recipient
 * key the sender signed it for, and the complaint. Anyone can run it (coordinator, member,
 * auditor); a complaint whose evidence does not verify is judged without opening anything. A key
 * the sender did not sign into the box (a recipient that advertised two) names the accuser.
 */
export function judgeShareComplaint(
  parties: ShareBoxParties,
  box: EncryptedShare,
  senderIdentityKey: Uint8Array,
  recipientPublicKey: Uint8Array,
  complaint: ShareComplaint,
  curve: Curve25519,
): ComplaintVerdict {
  const { sender, recipient } = parties;
  if (!isSignedBySender(parties, box, senderIdentityKey, recipientPublicKey, curve)) {
    return {
      guilty: 'accuser',
      reason: `it complained about a share box from client ${sender} that client ${sender} never signed for the accuser's key`,
    };
  }
  const ephemeralX25519 = x25519FromEd25519(box.ephemeralPublicKey);
  if (
    !knowsEphemeralSecret(parties, box, recipientPublicKey, curve) ||
    ephemeralX25519 === undefined ||
    liftPeerKey(ephemeralX25519) === undefined
  ) {
    return {
      guilty: 'accused',
      reason: `its signed share box for client ${recipient} carries an ephemeral key that is unproven or not a point of prime order`,
    };
  }
  if (complaint.evidence === undefined) {
    return {
      guilty: 'accuser',
      reason: `its complaint against client ${sender} carries no evidence, and the box's ephemeral key is valid`,
    };
  }
  const shared = verifySharedSecret(
    recipientPublicKey,
    ephemeralX25519,
    complaint.evidence,
    shareComplaintContext(parties.binding, recipient, sender),
  );
  if (shared === undefined) {
    return {
      guilty: 'accuser',
      reason: `its complaint against client ${sender} carries evidence that does not verify (no proof of the shared secret)`,
    };
  }
  if (
    openWithSecret(parties, box.ephemeralPublicKey, box.ciphertext, shared, recipientPublicKey) ===
    undefined
  ) {
    return {
      guilty: 'accused',
      reason: `its signed share box for client ${recipient} does not open, or holds no valid share, under the proven key`,
    };
  }
  return {
    guilty: 'accuser',
    reason: `its complaint against client ${sender} is false: the signed box opens under the proven key and holds valid shares`,
  };
}

function associatedData(parties: ShareBoxParties): Uint8Array {
  return shareBoxAssociatedData(parties.binding, parties.sender, parties.recipient);
}

/**
 * A share box's plaintext: two encoded shares, both at the recipient's index, each matching the
 * dealer's commitment in the box.
 */
function holdsSharesFor(
  plaintext: Uint8Array,
  parties: ShareBoxParties,
  commitments: { readonly maskingKey: Uint8Array; readonly selfMask: Uint8Array },
): boolean {
  if (plaintext.length !== SHARE_BOX_PLAINTEXT_BYTES) return false;
  const { binding, sender, recipient } = parties;
  const maskingKey = plaintext.subarray(0, SHARE_BYTES);
  const selfMask = plaintext.subarray(SHARE_BYTES);
  try {
    if (checkEncodedShare(maskingKey) !== recipient || checkEncodedShare(selfMask) !== recipient)
      return false;
  } catch {
    return false;
  }
  return (
    equalBytes(
      shareCommitment(binding, sender, recipient, 'masking-key', maskingKey),
      commitments.maskingKey,
    ) &&
    equalBytes(
      shareCommitment(binding, sender, recipient, 'self-mask', selfMask),
      commitments.selfMask,
    )
  );
}
