import { AEAD_OVERHEAD_BYTES, AuthenticationError, openAead, sealAead } from '../aead.ts';
import {
  CURVE25519_KEY_BYTES,
  type Curve25519,
  ED25519_SIGNATURE_BYTES,
  LowOrderPointError,
} from '../curve25519.ts';
import { liftPeerKey, proveSharedSecret, verifySharedSecret } from '../dleq.ts';
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
 * - Each box has its own ephemeral X25519 key E (ECIES-style): K_{u→v} = KDF(X25519(e, C_v), u, v,
 *   E, C_v). The recipient's complaint reveals X25519(c_v, E) — which opens this box and no other:
 *   every other box, in either direction, is under another ephemeral key (or another recipient key).
 * - The sender signs (round binding, sender, recipient, E, ciphertext) with its identity key. A box
 *   that does not verify was altered or forged in transit — by the coordinator, since it verifies
 *   every signature on arrival — and the recipient stops instead of complaining. So only the sender
 *   can cause a complaint, by signing a box that does not open: an honest sender never is accused.
 * - The evidence (`dleq.ts`) proves the revealed secret: a wrong one is the accuser's fault.
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
  const ephemeralSecretKey = random(CURVE25519_KEY_BYTES);
  const ephemeralPublicKey = curve.x25519PublicKey(ephemeralSecretKey);
  const key = shareBoxKey(
    parties,
    curve.x25519SharedSecret(ephemeralSecretKey, recipientPublicKey),
    ephemeralPublicKey,
    recipientPublicKey,
  );
  const ciphertext = sealAead(key, plaintext, associatedData(parties), random);
  const signature = curve.sign(
    identitySecretKey,
    shareBoxPayload(
      parties.binding,
      parties.sender,
      parties.recipient,
      ephemeralPublicKey,
      ciphertext,
    ),
  );
  return { peer: parties.recipient, ephemeralPublicKey, ciphertext, signature };
}

/** Whether the box carries its sender's signature (the first thing a recipient checks). */
export function isSignedBySender(
  parties: ShareBoxParties,
  box: EncryptedShare,
  senderIdentityKey: Uint8Array,
  curve: Curve25519,
): boolean {
  if (
    !(box.ephemeralPublicKey instanceof Uint8Array) ||
    box.ephemeralPublicKey.length !== CURVE25519_KEY_BYTES ||
    !(box.signature instanceof Uint8Array) ||
    box.signature.length !== ED25519_SIGNATURE_BYTES ||
    !(box.ciphertext instanceof Uint8Array)
  ) {
    return false;
  }
  return curve.verify(
    senderIdentityKey,
    shareBoxPayload(
      parties.binding,
      parties.sender,
      parties.recipient,
      box.ephemeralPublicKey,
      box.ciphertext,
    ),
    box.signature,
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
  let shared: Uint8Array;
  try {
    shared = curve.x25519SharedSecret(recipientSecretKey, box.ephemeralPublicKey);
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
 * The recipient's complaint about a signed box that did not open: X25519(c_v, E) with its proof,
 * or no evidence at all when E does not lift to the curve (the signed E is then the evidence).
 */
export function shareComplaint(
  parties: ShareBoxParties,
  box: EncryptedShare,
  recipientSecretKey: Uint8Array,
  random: RandomSource,
): ShareComplaint {
  const evidence = proveSharedSecret(
    recipientSecretKey,
    box.ephemeralPublicKey,
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
 * Who broke the protocol, from public data only: the box as its sender signed it, the accuser's
 * advertised encryption key and the complaint. Anyone can run it (coordinator, member, auditor);
 * a complaint whose evidence does not verify is judged without opening anything.
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
  if (!isSignedBySender(parties, box, senderIdentityKey, curve)) {
    return {
      guilty: 'accuser',
      reason: `it complained about a share box from client ${sender} that client ${sender} never signed`,
    };
  }
  if (liftPeerKey(box.ephemeralPublicKey) === undefined) {
    return {
      guilty: 'accused',
      reason: `its signed share box for client ${recipient} carries an ephemeral key that is not a point of prime order on Curve25519`,
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
    box.ephemeralPublicKey,
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
