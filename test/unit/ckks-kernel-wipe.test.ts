import { describe, expect, it } from '@jest/globals';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { floodingSigmaFor, TEST_4096 } from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';
import { ceremonyInProcess, partialsFor } from '../support/ckks-keys.ts';

/**
 * The CKKS RNS kernel (rns-kernel.ts) keeps one WebAssembly memory per engine, alive as long as the
 * engine. No exported call reads the share region back, but whatever secret a call leaves there
 * (a keyholder's weighted share 2·λ_i·s_i, a member's v and e1) would outlive it in a heap
 * snapshot or core dump. An attacker review found the weighted share left there after
 * partialDecrypt (8 192 nonzero words); every call that loads secrets now wipes before returning.
 */
describe('RNS kernel memory after a keyholder’s partial decryption', () => {
  it('holds no trace of the weighted key share once partialDecrypt has returned', async () => {
    const engine = await CkksEngine.create(TEST_4096);
    const keys = ceremonyInProcess(engine, 3, 2, 5);
    const key = engine.loadEncryptionKey(keys.publicKey);
    const wires = engine.encryptWithWitnesses(
      key,
      Float64Array.from({ length: 100 }, (_, i) => i / 100),
      1,
      seededRandom(9),
    ).wires;
    // The member's side: v and e1 went through the kernel's byte input, the message through its
    // doubles.
    const scratch = (
      engine as unknown as { kernel: { byteInput: Int8Array; doubleInput: Float64Array } }
    ).kernel;
    expect(scratch.byteInput.some((b) => b !== 0)).toBe(false);
    expect(scratch.doubleInput.some((d) => d !== 0)).toBe(false);
    // The same for an upload's compact ciphertexts (c0 made in coefficient form and rounded).
    engine.encryptWithWitnesses(key, Float64Array.of(0.5), 1, seededRandom(10), { compact: true });
    expect(scratch.byteInput.some((b) => b !== 0)).toBe(false);
    expect(scratch.doubleInput.some((d) => d !== 0)).toBe(false);
    const sigma = floodingSigmaFor(TEST_4096, 2, 1e-3);
    partialsFor(engine, wires, keys.shares, [1], sigma, [1, 3]);
    const kernel = (engine as unknown as { kernel: { shareWords: Uint32Array } }).kernel;
    const words = new BigUint64Array(
      kernel.shareWords.buffer,
      kernel.shareWords.byteOffset,
      kernel.shareWords.length / 2,
    );
    // Nonzero words left in the share region = the (weighted) share still in memory.
    expect(words.filter((w) => w !== 0n).length).toBe(0);
    key.delete();
  });
});
