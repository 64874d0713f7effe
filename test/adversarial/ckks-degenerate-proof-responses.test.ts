import { describe, expect, it } from '@jest/globals';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  encodeProof,
  InvalidEncryptionProofError,
  maxProofLength,
  proofRange,
  proveEncryptions,
  verifyEncryptionProof,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { PROOF, proofShape, TEST_4096 } from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';
import { ceremonyInProcess } from '../support/ckks-keys.ts';

/**
 * ATTACK (availability, found in review): a member sends a proof whose responses are zero — no
 * witness or valid seed needed: the norms pass, and the verifier computes the commitments before
 * it compares the seed. SEAL refuses the all-zero polynomials ("result ciphertext is
 * transparent") with a WebAssembly exception that escaped the verifier's refusal path, and the
 * 16-polynomial SEAL ciphertext already made was never deleted: about 2 MiB of SEAL heap per
 * forged proof at N = 8192, in verifiers (coordinator workers, keyholders) that keep one SEAL
 * instance for life, from uploads a member may retry for the whole collecting window.
 * Defence: a zero response is refused before any SEAL object is made (an honest one has
 * probability about σ^-N), and keyProducts deletes what it made whatever SEAL throws.
 */
const engine = await CkksEngine.create(TEST_4096);
const key = engine.loadEncryptionKey(ceremonyInProcess(engine, 3, 2, 5).publicKey);
const statement: ProofStatement = {
  roundId: 'r',
  paramsHash: new Uint8Array(32),
  keySha256: new Uint8Array(32),
  memberId: 'm',
  totalCiphertexts: 1,
};
const random = seededRandom(1);
const values = Float64Array.from({ length: engine.valuesPerCiphertext }, (_, i) => Math.sin(i));
const { wires, witnesses } = engine.encryptWithWitnesses(key, values, 1, random);
const honest = proveEncryptions(engine, key, statement, 0, wires, witnesses, random);

const n = engine.set.polyModulusDegree;

/** A proof with the honest header and seed and responses all 1 (a valid code) except `edit`. */
function responses(edit: (zv: Float64Array[], ze: Float64Array[]) => void): Uint8Array {
  const zv = Array.from({ length: PROOF.repetitions }, () => new Float64Array(n).fill(1));
  const ze = Array.from({ length: PROOF.repetitions }, () => new Float64Array(n).fill(1));
  edit(zv, ze);
  const { first, count } = proofRange(honest);
  return encodeProof(engine, first, count, honest.subarray(16, 48), zv, ze)!;
}

/** Every response (or only repetition `only`'s) zero. */
const zeroResponses = (only?: number): Uint8Array =>
  responses((zv, ze) => {
    for (let j = 0; j < PROOF.repetitions; j++)
      if (only === undefined || only === j) {
        zv[j]!.fill(0);
        ze[j]!.fill(0);
      }
  });

const thrown = (proof: Uint8Array): unknown => {
  try {
    verifyEncryptionProof(engine, key, statement, 0, wires, proof);
    return undefined;
  } catch (error) {
    return error;
  }
};

/**
 * Resident memory once the verifier's own garbage (decoded responses, about 2 MB per proof, in
 * array buffers) is collected: what stays is what SEAL's WebAssembly heap kept.
 */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const residentAfterGc = () => {
  collectGarbage();
  return process.memoryUsage().rss;
};

describe('degenerate (zero) proof responses', () => {
  it('the honest proof verifies', () => {
    expect(thrown(honest)).toBeUndefined();
  });

  it.each([
    ['all responses zero', undefined],
    ['only the last repetition zero', PROOF.repetitions - 1],
  ])('%s: refused as an InvalidEncryptionProofError', (_, only) => {
    const error = thrown(zeroResponses(only));
    expect(error).toBeInstanceOf(InvalidEncryptionProofError);
  });

  it('leaks no SEAL memory per forged proof', () => {
    const forged = zeroResponses();
    for (let i = 0; i < 5; i++) thrown(forged); // warm-up
    const before = residentAfterGc();
    for (let i = 0; i < 100; i++) {
      thrown(forged);
      if (i % 10 === 9) collectGarbage();
    }
    const grownMiB = (residentAfterGc() - before) / 2 ** 20;
    // Without the defence ≈ 100 MiB (1 MiB per forged proof at N = 4096).
    expect(grownMiB).toBeLessThan(40);
  });
});

/**
 * ATTACK: a member (or whoever relays stored proofs to a keyholder) sends an encryption proof
 * whose Rice-coded responses (encryption-proof.ts, `encodeProof`) are malformed — cut short,
 * padded with extra bytes, with nonzero padding bits, with a unary run past the packed width, or
 * with a header that lies about the length — hoping for a crash, an allocation it controls, a
 * loop it controls, or a response outside the bounds the soundness argument assumes. Each must be
 * refused as an InvalidEncryptionProofError (the coordinator's INVALID_ARGUMENT) with nothing
 * decoded past the fixed V·2N responses.
 */
const shape = proofShape(engine.set, 1);

/** The proof with its header's length field set to its real length (so decoding is reached). */
function withLength(proof: Uint8Array, length = proof.length): Uint8Array {
  const out = proof.slice();
  new DataView(out.buffer).setUint32(12, length, true);
  return out;
}

function refusal(proof: Uint8Array): InvalidEncryptionProofError {
  try {
    verifyEncryptionProof(engine, key, statement, 0, wires, proof);
  } catch (error) {
    if (error instanceof InvalidEncryptionProofError) return error;
    throw error;
  }
  throw new Error('the malformed proof verified');
}

describe('Rice-coded proof responses: malformed codes are refused', () => {
  it('the honest proof verifies, and is shorter than the fixed-width packing', () => {
    expect(() => verifyEncryptionProof(engine, key, statement, 0, wires, honest)).not.toThrow();
    expect(proofRange(honest).length).toBe(honest.length);
    expect(honest.length).toBeLessThan(0.95 * maxProofLength(engine, 1));
  });

  it('truncated by one byte (header fixed to match): the stream ends early', () => {
    expect(refusal(withLength(honest.subarray(0, honest.length - 1))).message).toMatch(
      /ends early|padding/,
    );
  });

  it('truncated to the header alone', () => {
    expect(refusal(withLength(honest.subarray(0, 48))).message).toMatch(/ends early/);
  });

  it('a header that does not state the real length', () => {
    expect(refusal(withLength(honest, honest.length + 1)).message).toMatch(/its header says/);
    expect(refusal(honest.subarray(0, honest.length - 1)).message).toMatch(/its header says/);
  });

  it('overlong: a byte after the last response', () => {
    const longer = new Uint8Array(honest.length + 1);
    longer.set(honest);
    expect(refusal(withLength(longer)).message).toMatch(/1 bytes after the last value/);
  });

  it('longer than the fixed-width packing: refused before decoding', () => {
    const most = maxProofLength(engine, 1);
    const huge = new Uint8Array(most + 1).fill(0xff);
    huge.set(honest.subarray(0, 48));
    expect(refusal(withLength(huge)).message).toMatch(/at most/);
  });

  it('nonzero padding bits after the last code', () => {
    // One coefficient of 0 (2 bits shorter than 1) leaves padding in the last byte.
    const proof = responses((_, ze) => (ze[PROOF.repetitions - 1]![n - 1] = 0));
    const padded = proof.slice();
    padded[padded.length - 1] = padded[padded.length - 1]! | 0x80;
    expect(refusal(withLength(proof)).message).not.toMatch(/padding|well coded/);
    expect(refusal(withLength(padded)).message).toMatch(/nonzero padding/);
  });

  it('a coefficient at the packed width (|z| = 2^(width − 1)): out of range', () => {
    const proof = responses((zv) => (zv[3]![17] = -(2 ** (shape.widthV - 1))));
    expect(refusal(proof).message).toMatch(/coefficient 17: a magnitude of 2\^/);
  });

  it('an unbounded unary run (every bit one): refused at the width, not read to the end', () => {
    const ones = new Uint8Array(maxProofLength(engine, 1)).fill(0xff);
    ones.set(honest.subarray(0, 48));
    expect(refusal(withLength(ones)).message).toMatch(/coefficient 0: a magnitude of 2\^/);
  });

  it('random bytes after the header, at every length, never crash the decoder', () => {
    const bytes = seededRandom(3);
    for (const length of [49, 50, 1000, honest.length - 7, honest.length]) {
      const proof = new Uint8Array(length);
      proof.set(bytes(length));
      proof.set(honest.subarray(0, 48));
      expect(refusal(withLength(proof))).toBeInstanceOf(InvalidEncryptionProofError);
    }
  });
});
