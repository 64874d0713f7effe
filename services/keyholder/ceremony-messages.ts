import { createHash } from 'node:crypto';
import { encodeFields } from '../../crypto/bytes.ts';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { hkdfSha256 } from '../../crypto/kdf.ts';
import { AuthenticationError, openAead, sealAead } from '../../crypto/aead.ts';
import type { RandomSource } from '../../crypto/random.ts';
import {
  CeremonyPlan,
  type CeremonyAnswer,
  type CeremonyCheck,
  type CeremonyDealing,
  type CeremonyJoin,
} from '../../proto/gen/veilsum/v1/ckks.ts';

/**
 * What the key ceremony's messages sign and hash, and the key each dealt share is sealed under:
 * the ceremony's wire format beyond the proto fields (services/keyholder/ceremony.ts runs it).
 */
export const sha256 = (bytes: Uint8Array): Uint8Array =>
  new Uint8Array(createHash('sha256').update(bytes).digest());

export function planHash(plan: CeremonyPlan): Uint8Array {
  return sha256(encodeFields('veilsum/v1/ceremony-plan', CeremonyPlan.encode(plan).finish()));
}

/** A join signs its exchange key and its commitment to p_i. */
export const joinStatement = (
  plan: CeremonyPlan,
  hash: Uint8Array,
  id: string,
  key: Uint8Array,
  commitment: Uint8Array,
) => encodeFields('veilsum/v1/ceremony-join', plan.ceremonyId, hash, id, key, commitment);

/** Everything a dealing carries: its public share, proof and sealed shares. */
export const dealingDigest = (dealing: CeremonyDealing) =>
  sha256(
    encodeFields(
      'veilsum/v1/ceremony-dealt',
      dealing.index,
      sha256(dealing.publicShare),
      sha256(dealing.publicShareProof),
      sha256(encodeFields(...dealing.shares.flatMap((share) => [share.toIndex, share.sealed]))),
    ),
  );

/**
 * A dealing is signed for the joins it answered: an old dealing of an honest keyholder, replayed
 * into a new run of the same ceremony, does not verify (rather than frame its dealer).
 */
export const dealingStatement = (
  plan: CeremonyPlan,
  hash: Uint8Array,
  joins: Uint8Array,
  dealing: CeremonyDealing,
) =>
  encodeFields('veilsum/v1/ceremony-dealing', plan.ceremonyId, hash, joins, dealingDigest(dealing));

export const checkStatement = (plan: CeremonyPlan, hash: Uint8Array, check: CeremonyCheck) =>
  encodeFields(
    'veilsum/v1/ceremony-check',
    plan.ceremonyId,
    hash,
    check.transcriptSha256,
    check.index,
    ...check.partials.flatMap((p) => [p.dealer, p.windowStart, sha256(p.partial)]),
  );

export const shareAssociatedData = (
  plan: CeremonyPlan,
  hash: Uint8Array,
  from: number,
  to: number,
) => encodeFields('veilsum/v1/ceremony-share', plan.ceremonyId, hash, from, to);

/** The joins as they bind a dealing: every keyholder's exchange key and commitment, by index. */
export function joinsDigest(plan: CeremonyPlan, joins: readonly CeremonyJoin[]): Uint8Array {
  const indexOf = (id: string) => plan.keyholders.find((k) => k.keyholderId === id)?.index ?? 0;
  return sha256(
    encodeFields(
      'veilsum/v1/ceremony-joins',
      ...[...joins]
        .sort((x, y) => indexOf(x.keyholderId) - indexOf(y.keyholderId))
        .flatMap((j) => [
          indexOf(j.keyholderId),
          j.keyholderId,
          j.exchangeKey,
          j.publicShareCommitment,
        ]),
    ),
  );
}

/** The transcript every keyholder's test decryptions derive from and its check names. */
export function ceremonyTranscript(
  plan: CeremonyPlan,
  joins: readonly CeremonyJoin[],
  dealings: readonly CeremonyDealing[],
): Uint8Array {
  return sha256(
    encodeFields(
      'veilsum/v1/ceremony-transcript',
      planHash(plan),
      joinsDigest(plan, joins),
      ...[...dealings].sort((x, y) => x.index - y.index).map(dealingDigest),
    ),
  );
}

/** The AES-GCM key of the share dealt by `from` to `to`, from their exchange keys. */
export function ceremonyShareKey(
  plan: CeremonyPlan,
  exchangeSecret: Uint8Array,
  peerExchangeKey: Uint8Array,
  from: number,
  to: number,
): Uint8Array {
  const shared = curve.x25519SharedSecret(exchangeSecret, peerExchangeKey);
  return hkdfSha256(
    shared,
    planHash(plan),
    encodeFields('veilsum/v1/ceremony-share-key', plan.ceremonyId, from, to),
    32,
  );
}

/** An answer signs the transcript it answers and every key it reveals, in order. */
export const answerStatement = (
  plan: CeremonyPlan,
  hash: Uint8Array,
  answer: Omit<CeremonyAnswer, 'signature'>,
) =>
  encodeFields(
    'veilsum/v1/ceremony-answer',
    plan.ceremonyId,
    hash,
    answer.transcriptSha256,
    answer.checksSha256,
    answer.index,
    ...answer.revealed.flatMap((r) => [r.toIndex, r.shareKey]),
  );

const KEY_COMMITMENT_BYTES = 32;

/**
 * SHA-256 commitment to a share's AES-GCM key. AES-GCM does not commit to its key: a dealer could
 * craft a sealed share that opens under its real key to one share and under a second key to
 * another, and reveal the second in a complaint. The recipient checks the commitment against the
 * key it derived, so the only key that opens a sealed share in a complaint is the one it used.
 */
export const shareKeyCommitment = (shareKey: Uint8Array): Uint8Array =>
  sha256(encodeFields('veilsum/v1/ceremony-share-key-commitment', shareKey));

/** A dealt share as it travels: its key's commitment, then the AES-GCM sealed share. */
export function sealShare(
  shareKey: Uint8Array,
  plain: Uint8Array,
  associatedData: Uint8Array,
  random: RandomSource,
): Uint8Array {
  const sealed = sealAead(shareKey, plain, associatedData, random);
  const out = new Uint8Array(KEY_COMMITMENT_BYTES + sealed.length);
  out.set(shareKeyCommitment(shareKey), 0);
  out.set(sealed, KEY_COMMITMENT_BYTES);
  return out;
}

/** Opens a share sealed by `sealShare`; AuthenticationError if the key is not the committed one. */
export function openShare(
  shareKey: Uint8Array,
  sealed: Uint8Array,
  associatedData: Uint8Array,
): Uint8Array {
  const commitment = sealed.subarray(0, KEY_COMMITMENT_BYTES);
  if (
    sealed.length < KEY_COMMITMENT_BYTES ||
    !Buffer.from(commitment).equals(Buffer.from(shareKeyCommitment(shareKey)))
  )
    throw new AuthenticationError('the share key does not match the commitment sealed with it');
  return openAead(shareKey, sealed.subarray(KEY_COMMITMENT_BYTES), associatedData);
}

/** The checks a complaint answers, in index order (each as its signed statement). */
export function checksDigest(
  plan: CeremonyPlan,
  hash: Uint8Array,
  checks: readonly CeremonyCheck[],
): Uint8Array {
  return sha256(
    encodeFields(
      'veilsum/v1/ceremony-checks',
      ...[...checks]
        .sort((x, y) => x.index - y.index)
        .map((check) => sha256(checkStatement(plan, hash, check))),
    ),
  );
}
