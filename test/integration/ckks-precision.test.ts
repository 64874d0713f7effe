import { describe, expect, it } from '@jest/globals';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ciphertextsFor, floodingSigmaFor, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';
import { ceremonyInProcess, partialsFor } from '../support/ckks-keys.ts';

const CLIENTS = 100;
const DIM = 100_000;

const engine = await CkksEngine.create(SUM_8192);
const { publicKey, shares } = ceremonyInProcess(engine, 5, 3, 4);
const key = engine.loadEncryptionKey(publicKey);

describe('CKKS precision at the issue figure (100 vectors in [−1, 1] of length 100 000)', () => {
  it('the 3-of-5 threshold decryption of the encrypted sum is within 1e-4 of the float64 sum', () => {
    const random = seededRandom(2026);
    const expected = new Float64Array(DIM);
    const sum = engine.newSum(Math.ceil(DIM / engine.valuesPerCiphertext));
    for (let client = 0; client < CLIENTS; client++) {
      const bytes = random(4 * DIM);
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, DIM);
      // Uniform in [−1, 1], rounded to float32 as an update would be; the reference sums those.
      const update = Float32Array.from(words, (w) => (w / 2 ** 32) * 2 - 1);
      for (let i = 0; i < DIM; i++) expected[i] = expected[i]! + update[i]!;
      // The encryption members make (explicit randomness, as proved); the proof is not needed here.
      sum.add(
        engine.encryptWithWitnesses(key, update, ciphertextsFor(SUM_8192, DIM), random).wires,
      );
    }
    const aggregate = sum.result();
    sum.dispose();
    const responders = [1, 3, 5];
    const floodSigma = floodingSigmaFor(SUM_8192, responders.length, 5e-5);
    const partials = partialsFor(engine, aggregate, shares, responders, floodSigma);
    const decoded = engine.combine(aggregate, partials, DIM);
    let worst = 0;
    for (let i = 0; i < DIM; i++) worst = Math.max(worst, Math.abs(decoded[i]! - expected[i]!));
    expect(worst).toBeLessThanOrEqual(1e-4);
    // And it is a sum, not something small: the values reach the expected spread (σ ≈ 5.8).
    expect(Math.max(...expected.subarray(0, 1000).map(Math.abs))).toBeGreaterThan(10);
  }, 600_000);
});
