import { describe, expect, it } from '@jest/globals';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  InvalidEncryptionProofError,
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

/** The honest proof with every response (or only repetition `only`'s) replaced by zeros. */
function zeroResponses(only?: number): Uint8Array {
  const shape = proofShape(engine.set, 1);
  const n = engine.set.polyModulusDegree;
  const out = honest.slice();
  let offset = 44;
  const zeros = (width: number) => {
    const bias = 2 ** (width - 1);
    let acc = 0;
    let bits = 0;
    for (let k = 0; k < n; k++) {
      acc |= bias << bits;
      bits += width;
      while (bits >= 8) {
        out[offset++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
  };
  for (let j = 0; j < PROOF.repetitions; j++) {
    if (only === undefined || only === j) {
      zeros(shape.widthV);
      zeros(shape.widthE);
    } else offset += (n * (shape.widthV + shape.widthE)) / 8;
  }
  return out;
}

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
