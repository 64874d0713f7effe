import { createHash } from 'node:crypto';
import { encodeFields, u32be } from '../bytes.ts';
import type { RandomSource } from '../random.ts';
import { assertInteger, CryptoInputError } from '../validate.ts';
import type { CkksEngine, EncryptionKey, EncryptionWitness } from './engine.ts';
import { sampleRoundedGaussian } from './gaussian.ts';
import { PROOF, proofShape, type ProofShape } from './parameters.ts';
import { combineRows, fillResidues, fillSigned } from './row-combinations.ts';
import { BitReader, BitWriter } from './bit-stream.ts';
import { wireResidues } from './ciphertext-wire.ts';

/**
 * Verified encryption: a zero-knowledge proof that every ciphertext of a batch has a well-formed
 * c1 under the round's collective key pk = (p0, a), i.e. knowledge of short (v_i, e1_i) with
 * c1_i = v_i·a + e1_i mod Q. That is what the threshold decryption needs (parameters.ts, §2):
 * c0 + c1·s is then the member's own value plus small noise that the flooding hides, whatever c0
 * is; a crafted c1 (c0 = 0, c1 = Δ·X^j: the key-recovery attack) has no short preimage.
 *
 * Protocol (Lyubashevsky's Fiat–Shamir-with-aborts, amortised over u ciphertexts with the
 * linear-combination challenges of the SPDZ-family proofs — Baum–Damgård–Larsen–Nielsen CRYPTO
 * 2016, TopGear (Baum–Cozzo–Smart, SAC 2019) — with challenge entries that are 0 or a power of
 * ζ = X^(2N/16), the monomial challenges of Benhamouda–Camenisch–Krenn–Lyubashevsky–Neven,
 * ASIACRYPT 2014):
 *   for j < V = 32: y_j = (yv_j, ye_j) Gaussian masks, T_j = a·yv_j + ye_j mod Q;
 *   seed = H(statement, T_0 … T_{V−1}); c_ji ∈ {0} ∪ {ζ^k : k < 16} expanded from seed;
 *   z_j = y_j + Σ_i c_ji·(v_i, e1_i), released only after Gaussian rejection sampling on the whole
 *   response (σ = α·T, Lyubashevsky EUROCRYPT 2012, Thm 4.6), else start over.
 * The verifier checks ‖zv_j‖₂ ≤ B_v, ‖ze_j‖₂ ≤ B_e and that H(statement, a·zv_j + ze_j − Σ_i c_ji·c1_i)
 * reproduces the seed. Proof = seed and the z_j (Rice-coded: `encodeProof`).
 *
 * Soundness. For any ciphertext i without a short preimage of 2·c1_i, a row's linear combination
 * can be answered for at most one of the 17 values of its entry c_ji: two values c ≠ c′ answered
 * against the same T_j give (c − c′)·c1_i = v̄·a + ē with v̄, ē differences of two accepted
 * responses, and d = c − c′ is ζ^a (against 0) or ζ^b·(ζ^k − 1). Both have 2/d in R with small
 * coefficients — 2/ζ^a = 2·ζ^(−a); (ζ^k − 1)·(1 + ζ^k + … + ζ^(k(m−1))) = ζ^(km) − 1 = −2 where
 * ζ^k has order 2m (ζ^8 = X^N = −1) — so 2·c1_i = (2/d)·(v̄·a + ē) is short, a contradiction.
 * So every repetition fails with probability ≥ 16/17 and a proof passes with probability
 * ≤ 17^-32 = 2^-130.8 whatever the batch; the seed binds all T_j, so a forger grinding
 * Fiat–Shamir needs 2^130 hash evaluations. Multiplying by 2/d stretches ℓ2 norms by at most
 * ‖2/d‖ = max(2, 1/sin(π/16)) = 5.13 (`challengeInverseNorm`: the worst embedding of 1 − ζ^k),
 * so extraction gives 2·c1_i = v*·a + e* with ‖v*‖₂ ≤ 10.3·B_v, ‖e*‖₂ ≤ 10.3·B_e. That is why
 * keyholders decrypt 2·C, and the slack the flooding is sized for (parameters.ts, §3; with
 * α = 16 instead of 25 the bound is 2^0.31 above the ternary proof's, and statSecurityBits
 * holds at 44.2).
 *
 * Size. The proof is V·2N response coefficients whatever the batch, so fewer repetitions is what
 * shrinks it for small uploads: 16 nonzero challenges give log₂ 17 = 4.09 bits a repetition
 * instead of the ternary challenges' 1.58 (81 → 32 repetitions: 3.3–3.8 MB → 1.21–1.44 MB
 * for 1–128 ciphertexts at fixed widths); the widths follow the batch (the shift grows with √u).
 * Rice-coding the responses (`encodeProof`) takes them to within 0.1 bit of their entropy: about
 * 10 % less (1.19 MB for 13 ciphertexts, 1.30 MB for 123). More powers of X would shrink it
 * further (order 32: 26 repetitions, −19 %) but widen the extraction slack (κ = 10.2: the
 * extracted witnesses' variance ×4, 2 bits of the flooding's statistical security) and cost the
 * prover twice the row combinations; at order 16 the prover is faster than the ternary proof's.
 * Fewer repetitions at the same order would cut soundness below 128 bits (17^-31 = 2^-126.7).
 *
 * The statement binds the parameter set, round, parameters hash, key hash, member, the batch's
 * position in the upload and every ciphertext byte: a proof proves nothing for another member,
 * round, key or ciphertext (a c1 copied from another member's upload has no witness here).
 */
export interface ProofStatement {
  readonly roundId: string;
  readonly paramsHash: Uint8Array;
  readonly keySha256: Uint8Array;
  readonly memberId: string;
  /** Ciphertexts in the whole upload. */
  readonly totalCiphertexts: number;
  /**
   * What the proof is for: a member's upload (the default) or a keyholder's public key share
   * (key-share-proof.ts). Hashed under its own domain, so neither passes as the other.
   */
  readonly purpose?: 'upload' | 'key-share';
}

export class InvalidEncryptionProofError extends Error {
  override name = 'InvalidEncryptionProofError';
  /** The ciphertexts [first, first + count) the failing proof covers. */
  readonly first: number;
  readonly count: number;
  constructor(message: string, first: number, count: number) {
    super(message);
    this.first = first;
    this.count = count;
  }
}

const MAGIC = [0x56, 0x53, 0x50, 0x32]; // "VSP2": responses Rice-coded (see `encodeProof`)
/** Magic, first, count, total byte length, seed. */
const HEADER_BYTES = 4 + 4 + 4 + 4 + 32;
const SEED_OFFSET = 16;
const DOMAINS = {
  upload: 'veilsum/v1/ckks-encryption-proof',
  'key-share': 'veilsum/v1/ckks-key-share-proof',
} as const;

/**
 * The most bytes a proof over `count` ciphertexts may take: every response at its packed width
 * (what the fixed-width encoding of before always took). An honest Rice-coded proof is about 10 %
 * shorter (`encodeProof`); the prover restarts in the (never observed) case it would be longer,
 * and a verifier refuses a longer one before reading it.
 */
export function maxProofLength(engine: CkksEngine, count: number): number {
  const shape = proofShape(engine.set, count);
  const n = engine.set.polyModulusDegree;
  return HEADER_BYTES + (PROOF.repetitions * n * (shape.widthV + shape.widthE)) / 8;
}

/** How an upload of `total` ciphertexts is cut into proof batches of at most `batch`. */
export function proofBatches(
  total: number,
  batch: number = PROOF.maxBatch,
): { first: number; count: number }[] {
  assertInteger(total, 'ciphertexts', 1);
  assertInteger(batch, 'batch', 1, PROOF.maxBatch);
  const out: { first: number; count: number }[] = [];
  for (let first = 0; first < total; first += batch)
    out.push({ first, count: Math.min(batch, total - first) });
  return out;
}

/** Bytes of a proof's header: enough to read `proofRange`. */
export const PROOF_HEADER_BYTES = HEADER_BYTES;

/**
 * The (first, count) a proof's header claims (the verifier checks it against its batch) and its
 * total byte length (a receiver reads that many bytes, at most `maxProofLength(count)`).
 */
export function proofRange(proof: Uint8Array): { first: number; count: number; length: number } {
  if (proof.length < HEADER_BYTES || MAGIC.some((byte, i) => proof[i] !== byte))
    throw new InvalidEncryptionProofError('not a veilsum encryption proof (bad magic)', 0, 0);
  const view = new DataView(proof.buffer, proof.byteOffset, proof.byteLength);
  return {
    first: view.getUint32(4, true),
    count: view.getUint32(8, true),
    length: view.getUint32(12, true),
  };
}

/** Attempts before a prover gives up (an honest attempt is accepted with probability ≈ 1/2.24). */
export const MAX_PROOF_ATTEMPTS = 64;

/**
 * Proves that wires[i] (ciphertext first + i of the upload) were made by
 * `encryptWithWitnesses` with witnesses[i].
 */
export function proveEncryptions(
  engine: CkksEngine,
  key: EncryptionKey,
  statement: ProofStatement,
  first: number,
  wires: readonly Uint8Array[],
  witnesses: readonly EncryptionWitness[],
  random: RandomSource,
): Uint8Array {
  const prover = new EncryptionProver(engine, key, statement, first, wires, witnesses);
  for (let attempt = 0; attempt < MAX_PROOF_ATTEMPTS; attempt++) {
    const proof = prover.attempt(random);
    if (proof) return proof;
  }
  throw new CryptoInputError(EncryptionProver.tooManyRejections);
}

/**
 * One proof batch's prover, attempt by attempt: each attempt draws fresh masks and either returns
 * the proof or rejects (M ≈ 2.24 attempts on average). Attempts are independent, so several
 * threads may run them at once and the first accepted proof is kept: which attempt is kept
 * depends only on accept/reject decisions and timing, never on an accepted transcript's content,
 * so the proof has the distribution of a single rejection sampler. A rejected attempt's masks and
 * responses are never revealed.
 */
export class EncryptionProver {
  static readonly tooManyRejections =
    "the encryption proof was rejected 64 times in a row: the witnesses are larger than an encryption's";
  private readonly engine: CkksEngine;
  private readonly key: EncryptionKey;
  private readonly first: number;
  private readonly count: number;
  private readonly shape: ReturnType<typeof proofShape>;
  private readonly statementHash: Uint8Array;
  private readonly stacked: {
    count: number;
    length: number;
    fill: (i: number, words: Uint32Array) => void;
  };

  constructor(
    engine: CkksEngine,
    key: EncryptionKey,
    statement: ProofStatement,
    first: number,
    wires: readonly Uint8Array[],
    witnesses: readonly EncryptionWitness[],
  ) {
    const count = wires.length;
    if (witnesses.length !== count) throw new CryptoInputError('one witness per ciphertext');
    this.engine = engine;
    this.key = key;
    this.first = first;
    this.count = count;
    this.shape = proofShape(engine.set, count);
    const n = engine.set.polyModulusDegree;
    this.statementHash = hashStatement(engine, statement, first, wires);
    // (v_i ‖ e1_i) as one column per ciphertext, for the row combinations Σ_i c_ji·w_i.
    this.stacked = {
      count,
      length: 2 * n,
      fill: (i: number, words: Uint32Array) => {
        fillSigned(witnesses[i]!.v, words.subarray(0, 2 * n));
        fillSigned(witnesses[i]!.e1, words.subarray(2 * n));
      },
    };
  }

  /** One attempt: the proof, or undefined when the rejection step refuses it. */
  attempt(random: RandomSource): Uint8Array | undefined {
    const { engine, key, shape, statementHash, stacked, first, count } = this;
    const n = engine.set.polyModulusDegree;
    const V = PROOF.repetitions;
    // One rejection test on (zv, ze) under the covariance diag(σv², σe²): the shift's weighted
    // norm is at most √2/α, so M = exp(√2·τ/α + 1/α²) ≈ 2.24 expected attempts.
    const acceptBound = Math.exp((Math.SQRT2 * PROOF.tau) / PROOF.alpha + 1 / PROOF.alpha ** 2);
    const masksV = Array.from({ length: V }, () =>
      sampleRoundedGaussian(random, shape.sigmaV, new Float64Array(n)),
    );
    const masksE = Array.from({ length: V }, () =>
      sampleRoundedGaussian(random, shape.sigmaE, new Float64Array(n)),
    );
    const seedHash = createHash('sha256').update(statementHash);
    for (const commitment of engine.keyProducts(key, masksV, masksE))
      seedHash.update(residueBytes(commitment));
    const seed = new Uint8Array(seedHash.digest());
    const challenges = expandChallenges(seed, V, count);
    // z = y + Σ c·w, and the two inner products the rejection step needs.
    let shiftV = 0;
    let shiftE = 0;
    let innerV = 0;
    let innerE = 0;
    let fits = true;
    const shifts = rotatedSums(
      combineRows(byPower(challenges, V, count), POWERS * V, stacked, undefined, true),
      V,
      n,
    );
    for (let j = 0; j < V && fits; j++) {
      const sumV = shifts[j]!.subarray(0, n);
      const sumE = shifts[j]!.subarray(n);
      const zv = masksV[j]!;
      const ze = masksE[j]!;
      let normV = 0;
      let normE = 0;
      for (let k = 0; k < n; k++) {
        const sv = sumV[k]!;
        const se = sumE[k]!;
        shiftV += sv * sv;
        shiftE += se * se;
        const a = zv[k]! + sv;
        const b = ze[k]! + se;
        zv[k] = a;
        ze[k] = b;
        innerV += a * sv;
        innerE += b * se;
        normV += a * a;
        normE += b * b;
      }
      if (
        Math.sqrt(normV) > shape.boundV ||
        Math.sqrt(normE) > shape.boundE ||
        !withinWidth(zv, shape.widthV) ||
        !withinWidth(ze, shape.widthE)
      )
        fits = false;
    }
    if (!fits || Math.sqrt(shiftV) > shape.shiftV || Math.sqrt(shiftE) > shape.shiftE)
      return undefined;
    const accept =
      Math.exp(
        (-2 * innerV + shiftV) / (2 * shape.sigmaV ** 2) +
          (-2 * innerE + shiftE) / (2 * shape.sigmaE ** 2),
      ) / acceptBound;
    if (uniform(random) >= accept) return undefined;
    // The coded length is a function of the responses alone (public once released), so refusing
    // the rare long coding conditions the response distribution on a public event, independent
    // of the witness: zero knowledge is unchanged.
    return encodeProof(engine, first, count, seed, masksV, masksE);
  }
}

/**
 * Verifies one proof over ciphertexts [first, first + wires.length) of an upload. Pure: throws
 * InvalidEncryptionProofError (or InvalidCiphertextError for a malformed ciphertext) and returns
 * nothing otherwise. The coordinator calls it on arrival; keyholders call it (or
 * `verifyUploadProofs`) on what they are asked to decrypt.
 */
export function verifyEncryptionProof(
  engine: CkksEngine,
  key: EncryptionKey,
  statement: ProofStatement,
  first: number,
  wires: readonly Uint8Array[],
  proof: Uint8Array,
): void {
  const count = wires.length;
  const fail = (message: string): never => {
    throw new InvalidEncryptionProofError(
      `${ciphertextRange(first, count)}: ${message}`,
      first,
      count,
    );
  };
  if (count < 1 || count > PROOF.maxBatch)
    fail(`a proof covers 1 to ${PROOF.maxBatch} ciphertexts, not ${count}`);
  if (first + count > statement.totalCiphertexts)
    fail(`the upload has only ${statement.totalCiphertexts} ciphertexts`);
  const claimed = proofRange(proof);
  if (claimed.first !== first || claimed.count !== count)
    fail(`the proof is for ciphertexts ${claimed.first}–${claimed.first + claimed.count - 1}`);
  const most = maxProofLength(engine, count);
  if (claimed.length !== proof.length)
    fail(`the proof is ${proof.length} bytes; its header says ${claimed.length}`);
  if (proof.length > most)
    fail(`the proof is ${proof.length} bytes; ${count} ciphertexts take at most ${most}`);
  const shape = proofShape(engine.set, count);
  const n = engine.set.polyModulusDegree;
  const V = PROOF.repetitions;
  const seed = proof.subarray(SEED_OFFSET, SEED_OFFSET + 32);
  let decoded: { zv: Float64Array[]; ze: Float64Array[] } = { zv: [], ze: [] };
  try {
    decoded = decodeResponses(proof, shape, n);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    fail(`the responses are not well coded (${error.message})`);
  }
  const { zv, ze } = decoded;
  for (let j = 0; j < V; j++) {
    if (norm(zv[j]!) > shape.boundV || norm(ze[j]!) > shape.boundE)
      fail(`response ${j} is longer than an honest prover's (the ciphertexts are not well formed)`);
    // Gaussian masks of σ ≥ 2^10 over N coefficients are never all zero: only a forger's are.
    if (norm(zv[j]!) === 0 || norm(ze[j]!) === 0) fail(`response ${j} is zero`);
  }
  const moduli = engine.moduliNumbers;
  const challenges = expandChallenges(seed, V, count);
  const seedHash = createHash('sha256').update(hashStatement(engine, statement, first, wires));
  // Σ_i c_ji·c1_i mod Q in coefficient form, where ζ^p = X^(p·N/POWERS) only shifts: each c1
  // out of NTT form once (decoding checks it: InvalidCiphertextError otherwise), the sums of the
  // c1 whose challenge is ±ζ^p by combineRows, shifted and added. keyProducts then makes
  // a·zv_j + (ze_j − Σ_i c_ji·c1_i) in NTT form, the commitment the seed hashed.
  const c1s = engine.coefficientResidues(
    wires.map((wire) => wireResidues(wire, engine.expectations, 1)),
  );
  const partial = combineRows(
    byPower(challenges, V, count),
    POWERS * V,
    { count, length: moduli.length * n, fill: (i, words) => fillResidues(c1s[i]!, words) },
    { degree: n, moduli },
    true,
  );
  const targets = ze.map((e, j) => {
    const target = new Float64Array(moduli.length * n);
    moduli.forEach((q, prime) => {
      const base = prime * n;
      for (let k = 0; k < n; k++) target[base + k] = e[k]! < 0 ? e[k]! + q : e[k]!;
      for (let p = 0; p < POWERS; p++) {
        // target −= X^shift·S: coefficient k moves to k + shift, negated past X^N = −1.
        const shift = (p * n) / POWERS;
        const sum = partial[p * V + j]!;
        for (let k = 0; k < n - shift; k++) {
          const next = target[base + k + shift]! - sum[base + k]!;
          target[base + k + shift] = next < 0 ? next + q : next;
        }
        for (let k = n - shift; k < n; k++) {
          const next = target[base + k + shift - n]! + sum[base + k]!;
          target[base + k + shift - n] = next >= q ? next - q : next;
        }
      }
    });
    return target;
  });
  let commitments: Float64Array[] = [];
  try {
    commitments = engine.keyProducts(key, zv, targets);
  } catch (error) {
    if (!(error instanceof CryptoInputError)) throw error;
    fail(`the responses are degenerate (${error.message})`);
  }
  for (const commitment of commitments) seedHash.update(residueBytes(commitment));
  const recomputed = new Uint8Array(seedHash.digest());
  if (!Buffer.from(recomputed).equals(Buffer.from(seed)))
    fail(
      'the encryption proof does not verify (a c1 is not v·a + e1 for short v, e1 under this key)',
    );
}

/**
 * Verifies every proof of an upload: proofs[b] covers batch b of `proofBatches(wires.length)`
 * (the same cut the SDK makes). For keyholders that re-check what they decrypt.
 */
export function verifyUploadProofs(
  engine: CkksEngine,
  key: EncryptionKey,
  statement: ProofStatement,
  wires: readonly Uint8Array[],
  proofs: readonly Uint8Array[],
): void {
  let next = 0;
  for (const proof of proofs) {
    const { count } = proofRange(proof);
    if (count < 1 || next + count > wires.length)
      throw new InvalidEncryptionProofError(
        `a proof claims ${ciphertextRange(next, count)} of ${wires.length}`,
        next,
        count,
      );
    verifyEncryptionProof(engine, key, statement, next, wires.slice(next, next + count), proof);
    next += count;
  }
  if (next !== wires.length)
    throw new InvalidEncryptionProofError(
      `${ciphertextRange(next, wires.length - next)}: no proof`,
      next,
      wires.length - next,
    );
}

/** "ciphertext 4" or "ciphertexts 0–127": how errors name what a proof covers. */
export const ciphertextRange = (first: number, count: number): string =>
  count === 1 ? `ciphertext ${first}` : `ciphertexts ${first}–${first + count - 1}`;

function hashStatement(
  engine: CkksEngine,
  statement: ProofStatement,
  first: number,
  wires: readonly Uint8Array[],
): Uint8Array {
  const hash = createHash('sha256').update(
    encodeFields(
      DOMAINS[statement.purpose ?? 'upload'],
      engine.set.name,
      statement.roundId,
      statement.paramsHash,
      statement.keySha256,
      statement.memberId,
      statement.totalCiphertexts,
      first,
      wires.length,
    ),
  );
  // encodeFields(wire) hashed in two pieces: the length prefix, then the bytes (no copy).
  for (const wire of wires) hash.update(u32be(wire.length)).update(wire);
  return new Uint8Array(hash.digest());
}

/**
 * Nonzero challenges are ζ^k, k < ORDER (ζ = X^(2N/ORDER)); ζ^(k + POWERS) = −ζ^k since
 * ζ^POWERS = X^N = −1, so each is ±ζ^p for a p < POWERS: X^(p·N/POWERS) up to sign.
 */
const ORDER = PROOF.challengeOrder;
const POWERS = ORDER / 2;

/**
 * c_ji uniform over 0 (stored as 0) and ζ^k (stored as k + 1), one per byte below
 * ⌊256/(ORDER + 1)⌋·(ORDER + 1) (SHAKE256 of the seed).
 */
function expandChallenges(seed: Uint8Array, repetitions: number, count: number): Int8Array {
  const needed = repetitions * count;
  const values = ORDER + 1;
  const limit = Math.floor(256 / values) * values;
  const out = new Int8Array(needed);
  for (let length = Math.ceil((needed * 256) / limit) + 64; ; length *= 2) {
    const stream = createHash('shake256', { outputLength: length })
      .update('veilsum/v1/ckks-proof-challenges')
      .update(seed)
      .digest();
    let filled = 0;
    for (let b = 0; b < stream.length && filled < needed; b++)
      if (stream[b]! < limit) out[filled++] = stream[b]! % values;
    if (filled === needed) return out;
  }
}

/**
 * The challenges as POWERS ternary matrices for `combineRows`, stacked: row p·V + j holds, for
 * each column i, +1 where c_ji = ζ^p, −1 where c_ji = ζ^(p + POWERS) = −ζ^p, else 0. Then
 * Σ_i c_ji·x_i = Σ_p ζ^p·(row p·V + j's sum).
 */
function byPower(challenges: Int8Array, repetitions: number, count: number): Int8Array {
  const out = new Int8Array(POWERS * repetitions * count);
  for (let j = 0; j < repetitions; j++)
    for (let i = 0; i < count; i++) {
      const value = challenges[j * count + i]!;
      if (value === 0) continue;
      const k = value - 1;
      const p = k % POWERS;
      out[(p * repetitions + j) * count + i] = k < POWERS ? 1 : -1;
    }
  return out;
}

/**
 * The prover's Σ_p ζ^p·S_pj for integer sums S (coefficient form, each the two halves v ‖ e1 of
 * length N): ζ^p = X^(p·N/POWERS) shifts a polynomial negacyclically (X^N = −1).
 */
function rotatedSums(
  partial: readonly Float64Array[],
  repetitions: number,
  n: number,
): Float64Array[] {
  const out: Float64Array[] = [];
  for (let j = 0; j < repetitions; j++) {
    const sum = partial[j]!.slice();
    for (let p = 1; p < POWERS; p++) {
      const shift = (p * n) / POWERS;
      const source = partial[p * repetitions + j]!;
      for (let half = 0; half < 2 * n; half += n) {
        for (let k = 0; k < n - shift; k++)
          sum[half + k + shift] = sum[half + k + shift]! + source[half + k]!;
        for (let k = n - shift; k < n; k++)
          sum[half + k + shift - n] = sum[half + k + shift - n]! - source[half + k]!;
      }
    }
    out.push(sum);
  }
  return out;
}

const residueBytes = (residues: Float64Array): Uint8Array =>
  new Uint8Array(residues.buffer, residues.byteOffset, residues.byteLength);

function norm(values: Float64Array): number {
  let sum = 0;
  for (let k = 0; k < values.length; k++) sum += values[k]! * values[k]!;
  return Math.sqrt(sum);
}

function withinWidth(values: Float64Array, width: number): boolean {
  const limit = 2 ** (width - 1);
  for (let k = 0; k < values.length; k++)
    if (values[k]! >= limit || values[k]! < -limit) return false;
  return true;
}

function uniform(random: RandomSource): number {
  const bytes = random(8);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  return ((view.getUint32(0, true) & 0x1fffff) * 2 ** 32 + view.getUint32(4, true)) * 2 ** -53;
}

/**
 * The proof's bytes: header (magic, first, count, byte length, seed), then every response
 * coefficient Rice-coded, repetition by repetition (zv_j then ze_j), as one little-endian bit
 * stream padded with zero bits to a byte. The responses are rounded Gaussians of known σ
 * (`proofShape`), so a fixed width wastes the ~2 bits between ⌈log₂ 6σ⌉ + 1 and their entropy
 * log₂(σ·√(2πe)): a coefficient z is coded as the low b bits of |z|, then ⌊|z|/2^b⌋ one bits
 * and a zero bit, then a sign bit when z ≠ 0, with b = ⌊log₂ σ − 1/2⌋ (`riceBits`): within 0.1
 * bit of the entropy (17.0 + 19.2 bits instead of 19 + 21 for a 13-ciphertext batch at
 * N = 8192). The code is canonical: one bit string per response vector, and the decoder refuses
 * anything else (a quotient past the packed width, a stream that ends early, nonzero padding or
 * trailing bytes) — `decodeResponses`. Returns undefined when the coding would be longer than
 * `maxProofLength` (the caller restarts; never observed).
 */
export function encodeProof(
  engine: CkksEngine,
  first: number,
  count: number,
  seed: Uint8Array,
  zv: readonly Float64Array[],
  ze: readonly Float64Array[],
): Uint8Array | undefined {
  const shape = proofShape(engine.set, count);
  const most = maxProofLength(engine, count);
  const out = new Uint8Array(most);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, first, true);
  view.setUint32(8, count, true);
  out.set(seed, SEED_OFFSET);
  const writer = new RiceWriter(out, HEADER_BYTES);
  const bitsV = riceBits(shape.sigmaV);
  const bitsE = riceBits(shape.sigmaE);
  for (let j = 0; j < zv.length; j++) {
    if (!writer.vector(zv[j]!, bitsV) || !writer.vector(ze[j]!, bitsE)) return undefined;
  }
  const length = writer.finish();
  view.setUint32(12, length, true);
  return out.slice(0, length);
}

/** The Rice parameter for a rounded Gaussian of deviation σ (within 0.1 bit of its entropy). */
export const riceBits = (sigma: number): number => Math.max(0, Math.floor(Math.log2(sigma) - 0.5));

/**
 * The responses of a proof whose header was checked, or RangeError: a stream that ends before
 * V·2N coefficients, a coefficient outside the packed width (|z| ≥ 2^(width − 1), which bounds
 * the unary run), nonzero padding bits or bytes after the last coefficient. The output has a
 * fixed size (V·2N numbers) whatever the input, and each input bit is read at most once.
 */
function decodeResponses(
  proof: Uint8Array,
  shape: ProofShape,
  n: number,
): { zv: Float64Array[]; ze: Float64Array[] } {
  const zv: Float64Array[] = [];
  const ze: Float64Array[] = [];
  const reader = new RiceReader(proof, HEADER_BYTES);
  const bitsV = riceBits(shape.sigmaV);
  const bitsE = riceBits(shape.sigmaE);
  for (let j = 0; j < PROOF.repetitions; j++) {
    const v = new Float64Array(n);
    reader.vector(v, bitsV, shape.widthV);
    const e = new Float64Array(n);
    reader.vector(e, bitsE, shape.widthE);
    zv.push(v);
    ze.push(e);
  }
  reader.finish();
  return { zv, ze };
}

/** Rice codes (`encodeProof`) on a bit stream. */
class RiceWriter {
  private readonly stream: BitWriter;
  private readonly end: number;
  constructor(out: Uint8Array, offset: number) {
    this.stream = new BitWriter(out, offset);
    this.end = out.length;
  }

  /** Codes every value; false when the output would overflow. */
  vector(values: Float64Array, b: number): boolean {
    const lowMask = 2 ** b;
    for (let k = 0; k < values.length; k++) {
      const z = values[k]!;
      const magnitude = Math.abs(z);
      const quotient = Math.floor(magnitude / lowMask);
      if (this.stream.position + ((b + quotient + 2) >> 3) + 1 > this.end) return false;
      this.stream.write(magnitude - quotient * lowMask, b);
      for (let q = quotient; q > 0; q -= Math.min(q, 16)) {
        const run = Math.min(q, 16);
        this.stream.write((1 << run) - 1, run);
      }
      this.stream.write(0, 1);
      if (magnitude !== 0) this.stream.write(z < 0 ? 1 : 0, 1);
    }
    return true;
  }

  /** Pads the last byte with zero bits; the total length in bytes. */
  finish(): number {
    return this.stream.flush();
  }
}

class RiceReader {
  private readonly stream: BitReader;
  constructor(input: Uint8Array, offset: number) {
    this.stream = new BitReader(input, offset);
  }

  /** Decodes values.length codes with parameter b, each of magnitude < 2^(width − 1). */
  vector(values: Float64Array, b: number, width: number): void {
    const lowMask = 2 ** b;
    const limit = 2 ** (width - 1);
    const maxQuotient = Math.floor((limit - 1) / lowMask);
    const outOfRange = (k: number) =>
      new RangeError(`coefficient ${k}: a magnitude of 2^${width - 1} or more`);
    for (let k = 0; k < values.length; k++) {
      const low = this.stream.read(b);
      let quotient = 0;
      while (this.stream.read(1) === 1) if (++quotient > maxQuotient) throw outOfRange(k);
      const magnitude = quotient * lowMask + low;
      if (magnitude >= limit) throw outOfRange(k);
      values[k] = magnitude !== 0 && this.stream.read(1) === 1 ? -magnitude : magnitude;
    }
  }

  finish(): void {
    this.stream.end();
  }
}
