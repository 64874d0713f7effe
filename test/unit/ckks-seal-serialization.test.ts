import { describe, expect, it } from '@jest/globals';
import { addPoly, multiplyPoly } from '../../crypto/ckks/rns.ts';
import {
  parseCiphertext,
  parsePlaintext,
  SealFormatError,
  serializeCiphertext,
  serializePlaintext,
} from '../../crypto/ckks/seal-serialization.ts';
import { DEGREE, sealFixture } from '../support/seal-fixture.ts';

const { seal, context, secretKey, encoder, encryptor, decryptor, NONE, dataRns } =
  await sealFixture();
/** The primes of the data level (all but SEAL's special key-switching prime). */
const moduli = dataRns.moduli as bigint[];

const values = (seed: number) => Float64Array.from({ length: 64 }, (_, i) => Math.sin(seed + i));
function encrypt(input: Float64Array) {
  const plaintext = new seal.Plaintext();
  encoder.encode(input, 2 ** 30, plaintext);
  const ciphertext = new seal.Ciphertext();
  encryptor.encrypt(plaintext, ciphertext);
  return ciphertext;
}
function decode(plaintext: InstanceType<typeof seal.Plaintext>): Float64Array {
  return Float64Array.from((encoder.decodeFloat64(plaintext) as Float64Array).slice(0, 64));
}
const maxError = (a: Float64Array, b: Float64Array) =>
  Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));

describe('SEAL serialization bridge (node-seal 7)', () => {
  it('parses a ciphertext into RNS residues and writes back bytes SEAL loads and decrypts', () => {
    const bytes = encrypt(values(1)).saveToArray(NONE) as Uint8Array;
    const parsed = parseCiphertext(bytes);
    expect(parsed).toMatchObject({
      nttForm: true,
      size: 2,
      polyModulusDegree: DEGREE,
      coeffModulusSize: moduli.length,
      scale: 2 ** 30,
    });
    const rewritten = serializeCiphertext(parsed, parsed.version);
    expect(Buffer.from(rewritten)).toEqual(Buffer.from(bytes));
    const loaded = new seal.Ciphertext();
    loaded.loadFromArray(context, rewritten);
    const plaintext = new seal.Plaintext();
    decryptor.decrypt(loaded, plaintext);
    expect(maxError(decode(plaintext), values(1))).toBeLessThan(1e-5);
  });

  it('adding two ciphertexts residue-wise in JS decrypts to the sum (the RNS layout is understood)', () => {
    const a = parseCiphertext(encrypt(values(2)).saveToArray(NONE) as Uint8Array);
    const b = parseCiphertext(encrypt(values(3)).saveToArray(NONE) as Uint8Array);
    const span = moduli.length * DEGREE;
    const sum = new BigUint64Array(a.data.length);
    for (let p = 0; p < 2; p++) {
      sum.set(
        addPoly(
          a.data.subarray(p * span, (p + 1) * span),
          b.data.subarray(p * span, (p + 1) * span),
          moduli,
          DEGREE,
        ),
        p * span,
      );
    }
    const loaded = new seal.Ciphertext();
    loaded.loadFromArray(context, serializeCiphertext({ ...a, data: sum }, a.version));
    const plaintext = new seal.Plaintext();
    decryptor.decrypt(loaded, plaintext);
    const expected = Float64Array.from(values(2), (v, i) => v + values(3)[i]!);
    expect(maxError(decode(plaintext), expected)).toBeLessThan(1e-5);
  });

  it('decrypts in JS from the serialized secret key: c0 + c1·s in the NTT domain', () => {
    const ct = parseCiphertext(encrypt(values(4)).saveToArray(NONE) as Uint8Array);
    const key = parsePlaintext(secretKey.saveToArray(NONE) as Uint8Array);
    // The secret key carries one residue per prime including the special prime; keep the data level's.
    const span = moduli.length * DEGREE;
    const s = key.data.subarray(0, span);
    const c0 = ct.data.subarray(0, span);
    const c1 = ct.data.subarray(span, 2 * span);
    const message = addPoly(c0, multiplyPoly(c1, s, moduli, DEGREE), moduli, DEGREE);
    const plaintext = new seal.Plaintext();
    plaintext.loadFromArray(
      context,
      serializePlaintext(
        { parmsId: ct.parmsId, coeffCount: span, scale: ct.scale, data: message },
        ct.version,
      ),
    );
    expect(maxError(decode(plaintext), values(4))).toBeLessThan(1e-5);
  });

  it('rejects truncated, foreign and compressed objects with a precise error', () => {
    const bytes = encrypt(values(5)).saveToArray(NONE) as Uint8Array;
    expect(() => parseCiphertext(bytes.subarray(0, 100))).toThrow(/declares \d+ bytes/);
    const foreign = bytes.slice();
    foreign[0] = 0;
    expect(() => parseCiphertext(foreign)).toThrow(SealFormatError);
    expect(() =>
      parseCiphertext(encrypt(values(5)).saveToArray(seal.ComprModeType.zstd) as Uint8Array),
    ).toThrow(/compressed/);
  });
});
