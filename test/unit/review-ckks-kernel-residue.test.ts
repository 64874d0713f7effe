import { describe, expect, it } from '@jest/globals';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { floodingSigmaFor, TEST_4096 } from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';
import { ceremonyInProcess, partialsFor } from '../support/ckks-keys.ts';

/**
 * Review (attacker) of the CKKS RNS kernel (rns-kernel.ts): one kernel per engine, whose memory
 * holds the polynomials in flight. No exported call reads the share region back (inspection of
 * every export: partial() is the only reader, and it runs after setShare), so no later call
 * RETURNS the share. But the keyholder's weighted share 2·λ_i·s_i stays in the kernel's memory
 * (a WebAssembly.Memory, never zeroed, alive as long as the engine) after partialDecrypt returns,
 * and so do a member's encryption randomness v and e1 after encrypt: anything that later returns
 * a view of that memory, a heap snapshot or a core dump carries them. Before the change SEAL held
 * them in its own heap too, so this is hygiene (Low), asserted here as the sound behaviour:
 * FAILS on 9c15be9.
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
