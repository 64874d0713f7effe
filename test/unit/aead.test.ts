import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { AEAD_OVERHEAD_BYTES, AuthenticationError, openAead, sealAead } from '../../crypto/aead.ts';
import { seededRandom } from '../../crypto/random.ts';

const key = new Uint8Array(32).fill(9);

describe('AES-256-GCM share boxes', () => {
  it('opens what it sealed, with nonce and tag overhead only', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.nat(),
        (plaintext, ad, seed) => {
          const sealed = sealAead(key, plaintext, ad, seededRandom(seed));
          expect(sealed.length).toBe(plaintext.length + AEAD_OVERHEAD_BYTES);
          expect(openAead(key, sealed, ad)).toEqual(plaintext);
        },
      ),
    );
  });

  it('rejects any single flipped bit, a wrong key or wrong associated data', () => {
    const plaintext = new Uint8Array(70).fill(1);
    const ad = new Uint8Array([1, 2, 3]);
    const sealed = sealAead(key, plaintext, ad, seededRandom(1));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: sealed.length * 8 - 1 }), (bit) => {
        const tampered = sealed.slice();
        tampered[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => openAead(key, tampered, ad)).toThrow(AuthenticationError);
      }),
    );
    expect(() => openAead(new Uint8Array(32), sealed, ad)).toThrow(AuthenticationError);
    expect(() => openAead(key, sealed, new Uint8Array([1, 2, 4]))).toThrow(AuthenticationError);
    expect(() => openAead(key, sealed.subarray(0, 20), ad)).toThrow(/shorter than/);
  });

  it('uses a fresh nonce per box, so equal plaintexts give different boxes', () => {
    const random = seededRandom(2);
    const plaintext = new Uint8Array(16);
    expect(sealAead(key, plaintext, new Uint8Array(0), random)).not.toEqual(
      sealAead(key, plaintext, new Uint8Array(0), random),
    );
  });
});
