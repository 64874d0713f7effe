import { hashFields } from '../commitment.ts';
import type { RandomSource } from '../random.ts';
import { CryptoInputError } from '../validate.ts';
import type { KeyShare } from './collective-keys.ts';
import type { CkksEngine } from './engine.ts';
import {
  proveEncryptions,
  type ProofStatement,
  verifyEncryptionProof,
} from './encryption-proof.ts';

/**
 * A keyholder's proof that its public key share is p_i = −a·s_i + e_i for short s_i, e_i it
 * knows: the encryption proof (encryption-proof.ts) has exactly this shape, c1 = v·a + e1 with
 * v = −s_i (ternary) and e1 = e_i (centred binomial, the encryption errors' distribution). Without
 * it a keyholder could publish p_m = (−a·s* + e*) − Σ p_honest (the rogue key: the collective key
 * becomes (−a·s* + e*, a) and s* decrypts alone); with it, extraction gives short (v*, e*) with
 * 2·p_m = v*·a + e*, so a rogue p_m would give a short preimage of 2·Σ p_honest — an RLWE
 * solution for the honest keyholders' fresh samples.
 *
 * The proof covers p_i modulo the data primes Q, where every encryption (encryptWithWitnesses)
 * and decryption happens; the special prime's residue is used by no veilsum code path.
 *
 * The statement binds the parameter set, the ceremony, its transcript so far (the plan hash,
 * which fixes a through the seed), a, and the keyholder: a proof is no use to another keyholder,
 * another ceremony or another share.
 */
export interface KeyShareStatement {
  readonly ceremonyId: string;
  /** Hash of everything the ceremony fixed before the shares were made (its plan). */
  readonly transcript: Uint8Array;
  readonly keyholderId: string;
}

function statementFor(engine: CkksEngine, a: BigUint64Array, statement: KeyShareStatement) {
  const proofStatement: ProofStatement = {
    purpose: 'key-share',
    roundId: statement.ceremonyId,
    paramsHash: statement.transcript,
    keySha256: hashFields('veilsum/v1/ckks-reference-polynomial', residueBytes(a)),
    memberId: statement.keyholderId,
    totalCiphertexts: 1,
  };
  // The proof reads c1 of a ciphertext: (p_i, p_i) mod Q carries p_i there.
  const share = (publicShare: BigUint64Array) => {
    const residues = dataResidues(engine, publicShare, 'public share');
    const both = new Float64Array(2 * residues.length);
    both.set(residues, 0);
    both.set(residues, residues.length);
    return engine.packResidues(both);
  };
  return { proofStatement, share };
}

export function proveKeyShare(
  engine: CkksEngine,
  a: BigUint64Array,
  share: KeyShare,
  statement: KeyShareStatement,
  random: RandomSource,
): Uint8Array {
  const { proofStatement, share: wireOf } = statementFor(engine, a, statement);
  const key = engine.loadEncryptionKey(engine.publicKeyBytes(share.publicShare, a));
  try {
    const v = Int8Array.from(share.witness.secret, (x) => -x);
    return proveEncryptions(
      engine,
      key,
      proofStatement,
      0,
      [wireOf(share.publicShare)],
      [{ v, e1: share.witness.error }],
      random,
    );
  } finally {
    key.delete();
  }
}

/** Throws InvalidEncryptionProofError unless `proof` proves `publicShare` for `statement`. */
export function verifyKeyShare(
  engine: CkksEngine,
  a: BigUint64Array,
  publicShare: BigUint64Array,
  statement: KeyShareStatement,
  proof: Uint8Array,
): void {
  const { proofStatement, share: wireOf } = statementFor(engine, a, statement);
  const key = engine.loadEncryptionKey(engine.publicKeyBytes(publicShare, a));
  try {
    verifyEncryptionProof(engine, key, proofStatement, 0, [wireOf(publicShare)], proof);
  } finally {
    key.delete();
  }
}

/** The data-level residues (the leading primes of a key-level polynomial) as Numbers. */
function dataResidues(engine: CkksEngine, poly: BigUint64Array, what: string): Float64Array {
  const { degree, moduli } = engine.keyRns;
  if (poly.length !== degree * moduli.length)
    throw new CryptoInputError(`${what} does not match the parameter set`);
  return Float64Array.from(poly.subarray(0, degree * engine.dataRns.moduli.length), (value) =>
    Number(value),
  );
}

const residueBytes = (poly: BigUint64Array): Uint8Array =>
  new Uint8Array(poly.buffer, poly.byteOffset, poly.byteLength);
