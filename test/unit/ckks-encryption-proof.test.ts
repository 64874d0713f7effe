import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  InvalidEncryptionProofError,
  maxProofLength,
  proofRange,
  proveEncryptions,
  verifyEncryptionProof,
  verifyUploadProofs,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import {
  PROOF,
  proofShape,
  proofSoundnessBits,
  SUM_8192,
  TEST_4096,
} from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';
import { ceremonyInProcess } from '../support/ckks-keys.ts';

// The small ring keeps property runs fast; the proof's logic does not depend on N.
const engine = await CkksEngine.create(TEST_4096);
const { publicKey } = ceremonyInProcess(engine, 3, 2, 5);
const key = engine.loadEncryptionKey(publicKey);
const otherKey = engine.loadEncryptionKey(ceremonyInProcess(engine, 3, 2, 6).publicKey);

const statement = (total: number): ProofStatement => ({
  roundId: 'fraud/round-7',
  paramsHash: new Uint8Array(32).fill(7),
  keySha256: new Uint8Array(32).fill(9),
  memberId: 'bank-a',
  totalCiphertexts: total,
});

function honestBatch(count: number, seed: number) {
  const random = seededRandom(seed);
  const values = Float64Array.from({ length: count * engine.valuesPerCiphertext }, (_, i) =>
    Math.sin(seed + i),
  );
  // Compact ciphertexts, as the SDK sends them: the statement binds their bytes, c0's included.
  const { wires, witnesses } = engine.encryptWithWitnesses(key, values, count, random, {
    compact: true,
  });
  const proof = proveEncryptions(engine, key, statement(count), 0, wires, witnesses, random);
  return { wires, witnesses, proof };
}

const fixed = honestBatch(2, 1);
const verifies = (
  wires: readonly Uint8Array[],
  proof: Uint8Array,
  over: ProofStatement = statement(wires.length),
  first = 0,
  withKey = key,
) => {
  try {
    verifyEncryptionProof(engine, withKey, over, first, wires, proof);
    return true;
  } catch {
    return false;
  }
};

describe('encryption proof (c1 = v·a + e1 with short v, e1)', () => {
  it('is complete: honest batches of any size verify', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 2 ** 30 }),
        (count, seed) => {
          const { wires, proof } = honestBatch(count, seed);
          expect(proof.length).toBeLessThan(maxProofLength(engine, count));
          expect(proofRange(proof).length).toBe(proof.length);
          return verifies(wires, proof);
        },
      ),
      { numRuns: 6 },
    );
  });

  it('rejects a proof with any byte changed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: fixed.proof.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (position, flip) => {
          const tampered = fixed.proof.slice();
          tampered[position] = tampered[position]! ^ flip;
          return !verifies(fixed.wires, tampered);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('rejects when any ciphertext byte changes (c0 included: the statement binds every byte)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1 }),
        fc.integer({ min: 54, max: fixed.wires[0]!.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (which, position, flip) => {
          const wires = fixed.wires.map((wire) => wire.slice());
          wires[which]![position] = wires[which]![position]! ^ flip;
          return !verifies(wires, fixed.proof);
        },
      ),
      { numRuns: 12 },
    );
  });

  it.each([
    ['round', { roundId: 'fraud/round-8' }],
    ['parameters hash', { paramsHash: new Uint8Array(32) }],
    ['key hash', { keySha256: new Uint8Array(32) }],
    ['member', { memberId: 'bank-b' }],
    ['upload size', { totalCiphertexts: 3 }],
  ])('rejects the proof for another %s', (_, change) => {
    expect(verifies(fixed.wires, fixed.proof, { ...statement(2), ...change })).toBe(false);
  });

  it('rejects the proof at another position in the upload, or with the ciphertexts swapped', () => {
    expect(verifies(fixed.wires, fixed.proof, statement(4), 2)).toBe(false);
    expect(verifies([fixed.wires[1]!, fixed.wires[0]!], fixed.proof)).toBe(false);
    expect(verifies([fixed.wires[0]!], fixed.proof)).toBe(false);
  });

  it('rejects a proof checked against another collective key', () => {
    expect(verifies(fixed.wires, fixed.proof, statement(2), 0, otherKey)).toBe(false);
  });

  it('names the batch it refuses', () => {
    expect(() =>
      verifyEncryptionProof(
        engine,
        key,
        { ...statement(2), memberId: 'x' },
        0,
        fixed.wires,
        fixed.proof,
      ),
    ).toThrow(InvalidEncryptionProofError);
    expect(() =>
      verifyEncryptionProof(
        engine,
        key,
        { ...statement(2), memberId: 'x' },
        0,
        fixed.wires,
        fixed.proof,
      ),
    ).toThrow(/ciphertexts 0–1: the encryption proof does not verify/);
  });

  it('an upload of several batches verifies batch by batch, and a missing proof is named', () => {
    const random = seededRandom(3);
    const values = Float64Array.from({ length: 3 * engine.valuesPerCiphertext }, (_, i) =>
      Math.cos(i),
    );
    const { wires, witnesses } = engine.encryptWithWitnesses(key, values, 3, random);
    const first = proveEncryptions(
      engine,
      key,
      statement(3),
      0,
      wires.slice(0, 2),
      witnesses.slice(0, 2),
      random,
    );
    const second = proveEncryptions(
      engine,
      key,
      statement(3),
      2,
      wires.slice(2),
      witnesses.slice(2),
      random,
    );
    expect(() =>
      verifyUploadProofs(engine, key, statement(3), wires, [first, second]),
    ).not.toThrow();
    expect(() => verifyUploadProofs(engine, key, statement(3), wires, [first])).toThrow(
      /ciphertext 2: no proof/,
    );
    expect(() => verifyUploadProofs(engine, key, statement(3), wires, [second, first])).toThrow(
      InvalidEncryptionProofError,
    );
  });

  it('a witness that does not match the ciphertexts cannot be proved', () => {
    const other = honestBatch(2, 99);
    const forged = proveAttempt(() =>
      proveEncryptions(engine, key, statement(2), 0, fixed.wires, other.witnesses, seededRandom(4)),
    );
    // The prover's own checks pass (the witness is short), so it emits a proof; it does not verify.
    expect(verifies(fixed.wires, forged!)).toBe(false);
  });
});

describe('proof size on the deployed parameter set', () => {
  const sizeBytes = (count: number) => {
    const shape = proofShape(SUM_8192, count);
    return (PROOF.repetitions * SUM_8192.polyModulusDegree * (shape.widthV + shape.widthE)) / 8;
  };

  it('one 128-ciphertext batch costs under 1.4 bytes per parameter; soundness 17^-32 < 2^-128', () => {
    expect(sizeBytes(PROOF.maxBatch) / (PROOF.maxBatch * SUM_8192.polyModulusDegree)).toBeLessThan(
      1.4,
    );
    expect(proofSoundnessBits()).toBeGreaterThan(128);
  });

  it('a 2-ciphertext upload carries under 1.3 MB of proof, and the size grows with the batch', () => {
    // The ternary proof of before: 81 repetitions, 3.3 MB for 2 ciphertexts, 3.8 MB for 128.
    expect(sizeBytes(2)).toBeLessThan(1_300_000);
    expect(sizeBytes(2)).toBeLessThan(sizeBytes(13));
    expect(sizeBytes(13)).toBeLessThan(sizeBytes(PROOF.maxBatch));
  });
});

function proveAttempt(prove: () => Uint8Array): Uint8Array | undefined {
  try {
    return prove();
  } catch {
    return undefined;
  }
}
