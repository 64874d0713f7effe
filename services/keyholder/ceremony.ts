import { createHash } from 'node:crypto';
import { openAead, sealAead, AuthenticationError } from '../../crypto/aead.ts';
import type { CkksEngine } from '../../crypto/ckks/engine.ts';
import {
  ceremonyReferencePolynomial,
  collectivePublicShare,
  combineDealtShares,
  dealKeyShare,
  keySha256,
  polynomialFromBytes,
  polynomialToBytes,
} from '../../crypto/ckks/key-ceremony.ts';
import { PARAMETER_SETS } from '../../crypto/ckks/parameters.ts';
import { encodeFields } from '../../crypto/bytes.ts';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { hkdfSha256 } from '../../crypto/kdf.ts';
import { systemRandom } from '../../crypto/random.ts';
import {
  CeremonyPlan,
  type CeremonyDealing,
  type CeremonyJoin,
  type KeyInfo,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { ContractError } from '../../ledger/contract.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import type { CollectiveKeyRecord } from '../../ledger/records.ts';
import { failedPrecondition, invalidArgument, permissionDenied } from '../common/grpc-errors.ts';
import { verifiedIdentityOf } from '../pki/certificates.ts';

/**
 * One keyholder's side of the threshold key ceremony (crypto/ckks/key-ceremony.ts has the
 * arithmetic). An administrator's CLI relays the messages and learns nothing: exchange keys and
 * public shares are signed with each keyholder's certificate key, and the Shamir shares travel
 * AES-GCM-encrypted under X25519 keys agreed between the keyholders' ephemeral exchange keys.
 * A ceremony lives in memory between Join and Finish; a keyholder restarted mid-way is simply
 * run through a new ceremony.
 */
export interface KeyholderIdentity {
  readonly keyholderId: string;
  readonly certificatePem: string;
  /** Raw Ed25519 secret key of the certificate. */
  readonly signingKey: Uint8Array;
  readonly caPem: string;
}

/** What a keyholder keeps (sealed) after a ceremony. */
export interface HeldKey {
  readonly ceremonyId: string;
  readonly parameterSet: string;
  readonly index: number;
  readonly threshold: number;
  readonly keyholders: readonly { keyholderId: string; index: number }[];
  readonly publicKey: Uint8Array;
  readonly keySha256: Uint8Array;
  readonly share: BigUint64Array;
}

interface Pending {
  readonly plan: CeremonyPlan;
  readonly planHash: Uint8Array;
  readonly index: number;
  readonly exchangeSecret: Uint8Array;
}

const sha256 = (bytes: Uint8Array): Uint8Array =>
  new Uint8Array(createHash('sha256').update(bytes).digest());

export function planHash(plan: CeremonyPlan): Uint8Array {
  return sha256(encodeFields('veilsum/v1/ceremony-plan', CeremonyPlan.encode(plan).finish()));
}

const joinStatement = (plan: CeremonyPlan, hash: Uint8Array, id: string, key: Uint8Array) =>
  encodeFields('veilsum/v1/ceremony-join', plan.ceremonyId, hash, id, key);
const dealingStatement = (plan: CeremonyPlan, hash: Uint8Array, index: number, share: Uint8Array) =>
  encodeFields('veilsum/v1/ceremony-dealing', plan.ceremonyId, hash, index, sha256(share));
const shareAssociatedData = (plan: CeremonyPlan, hash: Uint8Array, from: number, to: number) =>
  encodeFields('veilsum/v1/ceremony-share', plan.ceremonyId, hash, from, to);

export function validatePlan(plan: CeremonyPlan | undefined): CeremonyPlan {
  if (plan === undefined) throw invalidArgument('plan is required');
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(plan.ceremonyId))
    throw invalidArgument('ceremony_id must be 1-64 letters, digits, ".", "_", ":" or "-"');
  if (PARAMETER_SETS[plan.parameterSet] === undefined) {
    throw invalidArgument(
      `unknown parameter_set "${plan.parameterSet}"; known: ${Object.keys(PARAMETER_SETS).join(', ')}`,
    );
  }
  if (plan.seed.length !== 32) throw invalidArgument('seed must be 32 random bytes');
  const n = plan.keyholders.length;
  if (n < 2 || n > 32) throw invalidArgument(`a ceremony needs 2 to 32 keyholders, got ${n}`);
  if (plan.threshold < 2 || plan.threshold > n)
    throw invalidArgument(`threshold must be in [2, ${n}], got ${plan.threshold}`);
  const ids = new Set(plan.keyholders.map((k) => k.keyholderId));
  const indices = new Set(plan.keyholders.map((k) => k.index));
  if (ids.size !== n || indices.size !== n)
    throw invalidArgument('keyholder ids and indices must be distinct');
  for (const index of indices)
    if (index < 1 || index > n) throw invalidArgument(`keyholder indices must be 1..${n}`);
  return plan;
}

export class KeyholderCeremony {
  private readonly identity: KeyholderIdentity;
  private readonly engineFor: (parameterSet: string) => Promise<CkksEngine>;
  private readonly pending = new Map<string, Pending>();

  constructor(
    identity: KeyholderIdentity,
    engineFor: (parameterSet: string) => Promise<CkksEngine>,
  ) {
    this.identity = identity;
    this.engineFor = engineFor;
  }

  join(input: CeremonyPlan | undefined): CeremonyJoin {
    const plan = validatePlan(input);
    const me = plan.keyholders.find((k) => k.keyholderId === this.identity.keyholderId);
    if (me === undefined) {
      throw failedPrecondition(
        `keyholder ${this.identity.keyholderId} is not in ceremony ${plan.ceremonyId}'s plan`,
      );
    }
    const hash = planHash(plan);
    const exchangeSecret = systemRandom(32);
    this.pending.set(plan.ceremonyId, { plan, planHash: hash, index: me.index, exchangeSecret });
    const exchangeKey = curve.x25519PublicKey(exchangeSecret);
    return {
      keyholderId: this.identity.keyholderId,
      exchangeKey: Buffer.from(exchangeKey),
      signature: Buffer.from(
        curve.sign(
          this.identity.signingKey,
          joinStatement(plan, hash, this.identity.keyholderId, exchangeKey),
        ),
      ),
      certificate: Buffer.from(this.identity.certificatePem),
    };
  }

  async deal(
    input: CeremonyPlan | undefined,
    joins: readonly CeremonyJoin[],
  ): Promise<CeremonyDealing> {
    const { pending, exchangeKeys } = this.verifiedJoins(input, joins);
    const engine = await this.engineFor(pending.plan.parameterSet);
    const a = ceremonyReferencePolynomial(engine.keyRns, pending.plan.seed);
    const indices = pending.plan.keyholders.map((k) => k.index);
    const dealing = dealKeyShare(
      a,
      engine.keyRns,
      engine.dataRns,
      pending.plan.threshold,
      indices,
      systemRandom,
    );
    const publicShare = polynomialToBytes(dealing.publicShare);
    return {
      index: pending.index,
      publicShare: Buffer.from(publicShare),
      signature: Buffer.from(
        curve.sign(
          this.identity.signingKey,
          dealingStatement(pending.plan, pending.planHash, pending.index, publicShare),
        ),
      ),
      shares: indices.map((to, k) => ({
        toIndex: to,
        sealed: Buffer.from(
          sealAead(
            this.shareKey(pending, exchangeKeys.get(to)!.exchangeKey, pending.index, to),
            polynomialToBytes(dealing.dealt[k]!),
            shareAssociatedData(pending.plan, pending.planHash, pending.index, to),
            systemRandom,
          ),
        ),
      })),
    };
  }

  /** Verifies everything, combines the shares dealt to this keyholder, and returns the key to seal. */
  async finish(
    input: CeremonyPlan | undefined,
    joins: readonly CeremonyJoin[],
    dealings: readonly CeremonyDealing[],
  ): Promise<HeldKey> {
    const { pending, exchangeKeys } = this.verifiedJoins(input, joins);
    const { plan } = pending;
    const engine = await this.engineFor(plan.parameterSet);
    if (dealings.length !== plan.keyholders.length)
      throw invalidArgument(`${dealings.length} dealings for ${plan.keyholders.length} keyholders`);
    const publicShares: BigUint64Array[] = [];
    const dealt: BigUint64Array[] = [];
    const seen = new Set<number>();
    for (const dealing of dealings) {
      const dealer = exchangeKeys.get(dealing.index);
      if (dealer === undefined || seen.has(dealing.index))
        throw invalidArgument(`dealing from unknown or repeated index ${dealing.index}`);
      seen.add(dealing.index);
      if (
        !curve.verify(
          dealer.identityKey,
          dealingStatement(plan, pending.planHash, dealing.index, dealing.publicShare),
          dealing.signature,
        )
      ) {
        throw permissionDenied(
          `the public share of keyholder ${dealing.index} is not signed by its certificate key; it was altered in transit`,
        );
      }
      publicShares.push(polynomialFromBytes(dealing.publicShare, engine.keyRns, 'public share'));
      const mine = dealing.shares.find((share) => share.toIndex === pending.index);
      if (mine === undefined)
        throw invalidArgument(`keyholder ${dealing.index} dealt no share to ${pending.index}`);
      try {
        const plain = openAead(
          this.shareKey(pending, dealer.exchangeKey, dealing.index, pending.index),
          mine.sealed,
          shareAssociatedData(plan, pending.planHash, dealing.index, pending.index),
        );
        dealt.push(polynomialFromBytes(plain, engine.dataRns, 'dealt share'));
      } catch (error) {
        if (error instanceof AuthenticationError) {
          throw permissionDenied(
            `the share dealt by keyholder ${dealing.index} does not authenticate; it was altered in transit`,
          );
        }
        throw error;
      }
    }
    const a = ceremonyReferencePolynomial(engine.keyRns, plan.seed);
    const publicKey = engine.publicKeyBytes(collectivePublicShare(engine.keyRns, publicShares), a);
    this.pending.delete(plan.ceremonyId);
    pending.exchangeSecret.fill(0);
    return {
      ceremonyId: plan.ceremonyId,
      parameterSet: plan.parameterSet,
      index: pending.index,
      threshold: plan.threshold,
      keyholders: plan.keyholders.map((k) => ({ keyholderId: k.keyholderId, index: k.index })),
      publicKey,
      keySha256: keySha256(publicKey),
      share: combineDealtShares(engine.dataRns, dealt),
    };
  }

  private verifiedJoins(input: CeremonyPlan | undefined, joins: readonly CeremonyJoin[]) {
    const plan = validatePlan(input);
    const pending = this.pending.get(plan.ceremonyId);
    if (pending === undefined) {
      throw failedPrecondition(
        `keyholder ${this.identity.keyholderId} has not joined ceremony ${plan.ceremonyId} (or restarted since): start the ceremony again`,
      );
    }
    if (!Buffer.from(planHash(plan)).equals(Buffer.from(pending.planHash)))
      throw invalidArgument(
        `the plan of ceremony ${plan.ceremonyId} changed since this keyholder joined`,
      );
    const exchangeKeys = new Map<number, { exchangeKey: Uint8Array; identityKey: Uint8Array }>();
    for (const join of joins) {
      const entry = plan.keyholders.find((k) => k.keyholderId === join.keyholderId);
      if (entry === undefined)
        throw invalidArgument(`join from ${join.keyholderId}, who is not in the plan`);
      let identity;
      try {
        identity = verifiedIdentityOf(
          Buffer.from(join.certificate),
          this.identity.caPem,
          `certificate of keyholder ${join.keyholderId}`,
        );
      } catch (error) {
        throw permissionDenied((error as Error).message);
      }
      if (identity.organisation !== join.keyholderId) {
        throw permissionDenied(
          `the certificate sent for ${join.keyholderId} belongs to ${identity.organisation}`,
        );
      }
      if (
        join.exchangeKey.length !== 32 ||
        !curve.verify(
          identity.identityKey,
          joinStatement(plan, pending.planHash, join.keyholderId, join.exchangeKey),
          join.signature,
        )
      ) {
        throw permissionDenied(
          `the exchange key of ${join.keyholderId} is not signed by its certificate key`,
        );
      }
      exchangeKeys.set(entry.index, {
        exchangeKey: join.exchangeKey,
        identityKey: identity.identityKey,
      });
    }
    if (exchangeKeys.size !== plan.keyholders.length)
      throw invalidArgument(
        `${exchangeKeys.size} distinct joins for ${plan.keyholders.length} keyholders`,
      );
    return { pending, exchangeKeys };
  }

  private shareKey(pending: Pending, peerExchangeKey: Uint8Array, from: number, to: number) {
    const shared = curve.x25519SharedSecret(pending.exchangeSecret, peerExchangeKey);
    return hkdfSha256(
      shared,
      pending.planHash,
      encodeFields('veilsum/v1/ceremony-share-key', pending.plan.ceremonyId, from, to),
      32,
    );
  }
}

export function keyInfoOf(key: HeldKey): KeyInfo {
  return {
    ceremonyId: key.ceremonyId,
    parameterSet: key.parameterSet,
    index: key.index,
    threshold: key.threshold,
    keyholders: key.keyholders.map((k) => ({ keyholderId: k.keyholderId, index: k.index })),
    publicKey: Buffer.from(key.publicKey),
    keySha256: Buffer.from(key.keySha256),
  };
}

/**
 * The end of a ceremony on the ledger: this keyholder attests, with its own ledger identity, the
 * collective key it now holds a share of (hash, ceremony id, threshold, the ceremony's keyholders
 * in index order). The contract registers the key once every participant attested it; CKKS round
 * manifests may name only registered keys, so a key the keyholders did not make cannot be used.
 */
export async function attestCollectiveKey(
  ledger: Ledger,
  key: HeldKey,
): Promise<CollectiveKeyRecord> {
  const participants = [...key.keyholders]
    .sort((a, b) => a.index - b.index)
    .map((k) => k.keyholderId);
  try {
    return await ledger.attestCollectiveKey(
      Buffer.from(key.keySha256).toString('hex'),
      key.ceremonyId,
      key.threshold,
      participants,
    );
  } catch (error) {
    if (!(error instanceof ContractError)) throw error;
    const message = `the ledger refused this keyholder's attestation of the collective key of ceremony ${key.ceremonyId}: ${error.message}`;
    throw error.kind === 'access-denied' ? permissionDenied(message) : failedPrecondition(message);
  }
}
