import { AEAD_OVERHEAD_BYTES, AuthenticationError, openAead, sealAead } from '../aead.ts';
import {
  CURVE25519_KEY_BYTES,
  type Curve25519,
  ED25519_SIGNATURE_BYTES,
  LowOrderPointError,
} from '../curve25519.ts';
import { createHash } from 'node:crypto';
import { liftPeerKey, proveSharedSecret, verifySharedSecret, x25519FromEd25519 } from '../dleq.ts';
import { deriveKey } from '../kdf.ts';
import type { RandomSource } from '../random.ts';
import { checkEncodedShare, SHARE_BYTES } from '../shamir.ts';
import type { EncryptedShare, ShareComplaint } from './messages.ts';
import { shareBoxAssociatedData, shareBoxPayload, shareComplaintContext } from './transcript.ts';

/**
 * A share box: u's two Shamir shares for v (of s_u^SK and b_u), sealed so that the coordinator
 * relaying it can neither read nor alter it, and so that a complaint about it can be checked by
 * anyone while opening nothing else.
 *
 * - Each box has its own ephemeral key: a fresh Ed25519 key pair (σ, A = a·B) whose scalar a also
 *   serves as the X25519 secret (E = u(A), RFC 7748 §4.1). K_{u→v} = KDF(X25519(a, C_v), u, v, A,
 *   C_v). The recipient's complaint reveals X25519(c_v, E), which opens this box and no other:
 *   every other box, in either direction, is under another ephemeral or recipient key.
 * - A signs the box too: a Schnorr proof that the sender knows a. Without it a sender colluding
 *   with the coordinator could put λ·A' — A' from an honest member's box to the same recipient —
 *   into a bad box, and the complaint's X25519(c_v, λ·E') would give away X25519(c_v, E') and so
 *   the honest box: the recipient would be a Diffie–Hellman oracle. With it, what a complaint
 *   reveals, a·C_v, is something the accused could compute itself.
 * - The sender signs (round binding, sender, recipient, C_v, A, ciphertext) with its identity key.
 *   A box that does not verify was altered or forged in transit — by the coordinator, since it
 *   verifies every signature on arrival — and the recipient stops instead of complaining. So only
 *   the sender can cause a complaint, by signing a box that does not open: an honest sender never
 *   is accused. C_v is signed because nothing else fixes which key v advertised: a recipient that
 *   signs two AdvertiseKeys (C_1 shown to the sender, C_2 to the judge) would otherwise get an
 *   honest box judged under C_2, where it does not open. The judge takes C_v from the signature.
 * - The evidence (`dleq.ts`) proves the revealed secret: a wrong one is the accuser's fault.
 * The recipient checks the proof of knowledge only for a box that does not open, before complaining.
 */
export const SHARE_BOX_PLAINTEXT_BYTES = 2 * SHARE_BYTES;
export const SHARE_BOX_CIPHERTEXT_BYTES = SHARE_BOX_PLAINTEXT_BYTES + AEAD_OVERHEAD_BYTES;

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

/** Seals `plaintext` (both shares) to the recipient's encryption key and signs the box. */
export function sealShareBox(
  parties: ShareBoxParties,
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  identitySecretKey: Uint8Array,
  curve: Curve25519,
  random: RandomSource,
): EncryptedShare {
  const ephemeralSeed = random(CURVE25519_KEY_BYTES);
  const ephemeralPublicKey = curve.ed25519PublicKey(ephemeralSeed);
  // Ed25519's secret scalar is clamp(SHA-512(σ)[0..32]); X25519 clamps the same bytes the same way.
  const scalar = new Uint8Array(createHash('sha512').update(ephemeralSeed).digest()).subarray(
    0,
    32,
  );
  const key = shareBoxKey(
    parties,
    curve.x25519SharedSecret(scalar, recipientPublicKey),
    ephemeralPublicKey,
    recipientPublicKey,
  );
  const ciphertext = sealAead(key, plaintext, associatedData(parties), random);
  const payload = shareBoxPayload(
    parties.binding,
    parties.sender,
    parties.recipient,
    recipientPublicKey,
    ephemeralPublicKey,
    ciphertext,
  );
  return {
    peer: parties.recipient,
    ephemeralPublicKey,
    ciphertext,
    signature: curve.sign(identitySecretKey, payload),
    ephemeralSignature: curve.sign(ephemeralSeed, payload),
  };
}

/**
 * Whether the box carries its sender's signature as sealed to `recipientPublicKey` (the first thing
 * a recipient checks, with its own key).
 */
export function isSignedBySender(
  parties: ShareBoxParties,
  box: EncryptedShare,
  senderIdentityKey: Uint8Array,
  recipientPublicKey: Uint8Array,
  curve: Curve25519,
): boolean {
  if (
    !(box.ephemeralPublicKey instanceof Uint8Array) ||
    box.ephemeralPublicKey.length !== CURVE25519_KEY_BYTES ||
    !(box.signature instanceof Uint8Array) ||
    box.signature.length !== ED25519_SIGNATURE_BYTES ||
    !(box.ephemeralSignature instanceof Uint8Array) ||
    box.ephemeralSignature.length !== ED25519_SIGNATURE_BYTES ||
    !(box.ciphertext instanceof Uint8Array)
  ) {
    return false;
  }
  return curve.verify(
    senderIdentityKey,
    payloadOf(parties, box, recipientPublicKey),
    box.signature,
  );
}

/** Whether the sender proved it knows the ephemeral secret (A's signature on the box). */
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
  return shareBoxPayload(
    parties.binding,
    parties.sender,
    parties.recipient,
    recipientPublicKey,
    box.ephemeralPublicKey,
    box.ciphertext,
  );
}

/**
 * Both shares from a box already checked with `isSignedBySender`, or undefined when the box does
 * not open under K or holds no valid share at the recipient's index (the sender's fault).
 */
export function openShareBox(
  parties: ShareBoxParties,
  box: EncryptedShare,
  recipientSecretKey: Uint8Array,
  recipientPublicKey: Uint8Array,
  curve: Curve25519,
): Uint8Array | undefined {
  const ephemeralX25519 = x25519FromEd25519(box.ephemeralPublicKey);
  if (ephemeralX25519 === undefined) return undefined;
  let shared: Uint8Array;
  try {
    shared = curve.x25519SharedSecret(recipientSecretKey, ephemeralX25519);
  } catch (error) {
    if (error instanceof LowOrderPointError) return undefined;
    throw error;
  }
  return openWithSecret(parties, box, shared, recipientPublicKey);
}

function openWithSecret(
  parties: ShareBoxParties,
  box: EncryptedShare,
  sharedSecret: Uint8Array,
  recipientPublicKey: Uint8Array,
): Uint8Array | undefined {
  const key = shareBoxKey(parties, sharedSecret, box.ephemeralPublicKey, recipientPublicKey);
  let plaintext: Uint8Array;
  try {
    plaintext = openAead(key, box.ciphertext, associatedData(parties));
  } catch (error) {
    if (error instanceof AuthenticationError) return undefined;
    throw error;
  }
  return holdsSharesFor(plaintext, parties.recipient) ? plaintext : undefined;
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
  if (openWithSecret(parties, box, shared, recipientPublicKey) === undefined) {
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

/** A share box's plaintext: two encoded shares, both at the recipient's index. */
function holdsSharesFor(plaintext: Uint8Array, recipient: number): boolean {
  if (plaintext.length !== SHARE_BOX_PLAINTEXT_BYTES) return false;
  try {
    return (
      checkEncodedShare(plaintext.subarray(0, SHARE_BYTES)) === recipient &&
      checkEncodedShare(plaintext.subarray(SHARE_BYTES)) === recipient
    );
  } catch {
    return false;
  }
}
