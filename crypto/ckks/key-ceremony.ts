import { hashFields } from '../commitment.ts';
import { seededRandom, type RandomSource } from '../random.ts';
import { assertBytes, CryptoInputError } from '../validate.ts';
import {
  aggregatePublicShares,
  commonReferencePolynomial,
  generateKeyShare,
  type KeyShare,
} from './collective-keys.ts';
import { addPoly } from './rns.ts';
import { type RnsContext, shareRnsSecret } from './threshold-decryption.ts';

/**
 * The threshold key ceremony among n keyholders, as pure steps (the keyholder service moves the
 * messages; the dealt shares travel AEAD-encrypted between keyholders).
 *
 * 1. Everyone expands the common reference polynomial a from the ceremony's public seed.
 * 2. Keyholder i samples s_i and e_i, computes p_i = −a·s_i + e_i and publishes only a commitment
 *    H(p_i) bound to the ceremony and itself (`publicShareCommitment`).
 * 3. Holding all n commitments, it reveals p_i with a proof of knowledge of short (s_i, e_i)
 *    (key-share-proof.ts) and Shamir-shares s_i (data level, per RNS prime, threshold t) into one
 *    share per keyholder. It then forgets s_i: the collective secret s = Σ s_i exists nowhere,
 *    not even in pieces larger than a Shamir share. Since every p_j was fixed before any was
 *    revealed, no keyholder can choose its share after seeing the others' (the rogue key
 *    p_m = (−a·s* + e*) − Σ p_honest).
 * 4. Keyholder j's share of s is the sum of the shares it was dealt (Shamir is linear).
 * 5. The collective public key is (Σ p_i, a); before anyone attests it, the keyholders test-decrypt
 *    under every dealer's p_i with the shares it dealt (dealer-check.ts).
 */
export function ceremonyReferencePolynomial(keyRns: RnsContext, seed: Uint8Array): BigUint64Array {
  assertBytes(seed, 'ceremony seed', 32);
  return commonReferencePolynomial(keyRns, seededRandom(seed));
}

export interface Dealing {
  readonly publicShare: BigUint64Array;
  /** dealt[k] goes to keyholder indices[k]. */
  readonly dealt: BigUint64Array[];
}

export function dealKeyShare(
  a: BigUint64Array,
  keyRns: RnsContext,
  dataRns: RnsContext,
  threshold: number,
  indices: readonly number[],
  random: RandomSource,
): Dealing {
  const share = generateKeyShare(a, keyRns, random);
  return {
    publicShare: share.publicShare,
    dealt: shareKeySecret(share, dataRns, threshold, indices, random),
  };
}

/** Shamir-shares a key share's secret (data level) and zeroes the secret and its witness. */
export function shareKeySecret(
  share: KeyShare,
  dataRns: RnsContext,
  threshold: number,
  indices: readonly number[],
  random: RandomSource,
): BigUint64Array[] {
  // SEAL stores a key-level polynomial prime by prime; the data level is the leading primes.
  const dataSecret = share.secret.subarray(0, dataRns.degree * dataRns.moduli.length);
  const dealt = shareRnsSecret(dataSecret, dataRns, threshold, indices, random);
  share.secret.fill(0n);
  share.witness.secret.fill(0);
  share.witness.error.fill(0);
  return dealt;
}

/**
 * The commitment to a public key share that a keyholder signs before any share is revealed:
 * SHA-256 of p_i (high-entropy, so hiding without a blinding nonce) bound to the ceremony, its
 * transcript so far (the plan, which fixes a) and the keyholder, so that no commitment can be
 * copied to another keyholder or ceremony.
 */
export function publicShareCommitment(
  ceremonyId: string,
  transcript: Uint8Array,
  keyholderId: string,
  publicShare: Uint8Array,
): Uint8Array {
  return hashFields(
    'veilsum/v1/ckks-public-share-commitment',
    ceremonyId,
    transcript,
    keyholderId,
    publicShare,
  );
}

export function combineDealtShares(
  dataRns: RnsContext,
  dealt: readonly BigUint64Array[],
): BigUint64Array {
  if (dealt.length === 0) throw new CryptoInputError('no dealt shares to combine');
  return dealt
    .slice(1)
    .reduce((sum, share) => addPoly(sum, share, dataRns.moduli, dataRns.degree), dealt[0]!);
}

export function collectivePublicShare(
  keyRns: RnsContext,
  publicShares: readonly BigUint64Array[],
): BigUint64Array {
  if (publicShares.length === 0) throw new CryptoInputError('no public shares');
  return aggregatePublicShares(publicShares, keyRns);
}

/**
 * Every keyholder's steps of the ceremony run in one place, for benchmarks and tests (the
 * services run the same steps across processes): the collective public key, each keyholder's
 * share, and the time the slowest step (one keyholder's dealing) took.
 */
export function ceremonyInOneProcess(
  engine: {
    readonly keyRns: RnsContext;
    readonly dataRns: RnsContext;
    publicKeyBytes(collective: BigUint64Array, a: BigUint64Array): Uint8Array;
  },
  keyholders: number,
  threshold: number,
  random: RandomSource,
): { publicKey: Uint8Array; shares: BigUint64Array[]; dealMsPerKeyholder: number } {
  const indices = Array.from({ length: keyholders }, (_, i) => i + 1);
  const a = ceremonyReferencePolynomial(engine.keyRns, random(32));
  const started = performance.now();
  const dealings = indices.map(() =>
    dealKeyShare(a, engine.keyRns, engine.dataRns, threshold, indices, random),
  );
  const dealMsPerKeyholder = (performance.now() - started) / keyholders;
  const shares = indices.map((_, k) =>
    combineDealtShares(
      engine.dataRns,
      dealings.map((dealing) => dealing.dealt[k]!),
    ),
  );
  const publicKey = engine.publicKeyBytes(
    collectivePublicShare(
      engine.keyRns,
      dealings.map((dealing) => dealing.publicShare),
    ),
    a,
  );
  return { publicKey, shares, dealMsPerKeyholder };
}

/** The name of a collective public key (SEAL bytes) everywhere: rounds, ledger, key files. */
export function keySha256(publicKey: Uint8Array): Uint8Array {
  return hashFields('veilsum/v1/ckks-public-key', publicKey);
}

/** RNS polynomials on the wire and at rest: little-endian u64 residues. */
export function polynomialToBytes(poly: BigUint64Array): Uint8Array {
  const out = new Uint8Array(poly.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < poly.length; i++) view.setBigUint64(8 * i, poly[i]!, true);
  return out;
}

export function polynomialFromBytes(
  bytes: Uint8Array,
  rns: RnsContext,
  what: string,
): BigUint64Array {
  const count = rns.degree * rns.moduli.length;
  if (bytes.length !== count * 8)
    throw new CryptoInputError(`${what}: ${bytes.length} bytes, expected ${count * 8}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new BigUint64Array(count);
  for (let i = 0; i < count; i++) {
    const value = view.getBigUint64(8 * i, true);
    if (value >= rns.moduli[Math.floor(i / rns.degree)]!)
      throw new CryptoInputError(`${what}: residue ${i} is not reduced modulo its prime`);
    out[i] = value;
  }
  return out;
}
