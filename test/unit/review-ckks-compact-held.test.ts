import { describe, expect, it } from '@jest/globals';
import {
  checkCiphertext,
  InvalidCiphertextError,
  isCompactWire,
  splitCiphertexts,
  wireLength,
} from '../../crypto/ckks/ciphertext-wire.ts';
import {
  proveEncryptions,
  verifyEncryptionProof,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';
import { ceremonyInProcess } from '../support/ckks-keys.ts';

/**
 * REVIEW (ckks-compact): attacks on the compact ("VSC2") upload form that HELD, kept as
 * regression tests. Each asserts the sound behaviour, which today's code has.
 *  - Re-encoding: the coordinator turns a member's compact ciphertext into the full ciphertext of
 *    the same value (what a one-member sum of it is). The aggregate would be the same, so only
 *    the proof's binding of every ciphertext byte (and the receipt's hash) stops the swap: the
 *    proof made for the compact bytes does not verify for the full ones.
 *  - Range edge: w′ = max (the largest an honest encoder emits) is taken; max + 1 is refused.
 *  - Mixed uploads: a full and a compact ciphertext concatenated split one way only, and the
 *    other order's byte string does not split as the first.
 */
const engine = await CkksEngine.create(SUM_8192);
const key = engine.loadEncryptionKey(ceremonyInProcess(engine, 3, 2, 7).publicKey);
const compact = engine.expectations.compactC0!;
const statement: ProofStatement = {
  roundId: 'review-round',
  paramsHash: new Uint8Array(32),
  keySha256: new Uint8Array(32),
  memberId: 'member-a',
  totalCiphertexts: 1,
};
const values = Float64Array.from({ length: engine.valuesPerCiphertext }, (_, i) => Math.cos(i));
const random = seededRandom(11);
const encrypted = engine.encryptWithWitnesses(key, values, 1, random, { compact: true });
const wire = encrypted.wires[0]!;
const proof = proveEncryptions(engine, key, statement, 0, [wire], encrypted.witnesses, random);

/** The full ciphertext (c0′, c1) of a compact one: a sum of it alone. */
function asFull(compactWire: Uint8Array): Uint8Array {
  const sum = engine.newSum(1);
  sum.add([compactWire]);
  const [full] = sum.result();
  sum.dispose();
  return full!;
}

/** The compact wire with its last rounded c0 coefficient set to `value` (35 bits, LE-packed). */
function withLastRounded(value: number): Uint8Array {
  const out = wire.slice();
  const bits = compact.bits;
  const spare = 40 - bits; // the last 5 bytes hold `spare` bits of the previous coefficient
  let tail = 0n;
  for (let i = 0; i < 5; i++) tail |= BigInt(out[out.length - 5 + i]!) << BigInt(8 * i);
  tail = (tail & ((1n << BigInt(spare)) - 1n)) | (BigInt(value) << BigInt(spare));
  for (let i = 0; i < 5; i++) out[out.length - 5 + i] = Number((tail >> BigInt(8 * i)) & 0xffn);
  return out;
}

describe('compact uploads: attacks that held', () => {
  it('the proof is bound to the compact bytes: the same ciphertext re-encoded full does not verify', () => {
    expect(isCompactWire(wire)).toBe(true);
    expect(() => verifyEncryptionProof(engine, key, statement, 0, [wire], proof)).not.toThrow();
    const full = asFull(wire);
    // Same value: the aggregate of either form is the same bytes.
    expect(Buffer.from(asFull(full)).equals(Buffer.from(full))).toBe(true);
    expect(() => verifyEncryptionProof(engine, key, statement, 0, [full], proof)).toThrow(
      /does not verify/,
    );
  });

  it('w′ = max is taken, max + 1 refused', () => {
    expect(compact.bits).toBe(35);
    expect(() => checkCiphertext(withLastRounded(compact.max), engine.expectations)).not.toThrow();
    expect(() => checkCiphertext(withLastRounded(compact.max + 1), engine.expectations)).toThrow(
      InvalidCiphertextError,
    );
  });

  it('a mixed upload splits one way only', () => {
    const full = asFull(wire);
    const both = new Uint8Array(full.length + wire.length);
    both.set(full, 0);
    both.set(wire, full.length);
    const parts = splitCiphertexts(both, engine.expectations, 2);
    expect(parts.map((part) => part.length)).toEqual([
      wireLength(engine.expectations),
      wire.length,
    ]);
    // The other order is another byte string (another receipt hash), and a cut of one string at
    // the other's boundary is refused.
    const swapped = new Uint8Array(both.length);
    swapped.set(wire, 0);
    swapped.set(full, wire.length);
    expect(Buffer.from(swapped).equals(Buffer.from(both))).toBe(false);
    expect(() => checkCiphertext(both.subarray(0, wire.length), engine.expectations)).toThrow(
      InvalidCiphertextError,
    );
  });
});
