import { describe, expect, it } from '@jest/globals';
import { hkdfSync, randomBytes } from 'node:crypto';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { deriveKey, hkdfSha256 } from '../../crypto/kdf.ts';

const range = (from: number, to: number) =>
  Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('HKDF-SHA256', () => {
  it('matches RFC 5869 test case 1 (basic)', () => {
    const okm = hkdfSha256(new Uint8Array(22).fill(0x0b), range(0x00, 0x0c), range(0xf0, 0xf9), 42);
    expect(toHex(okm)).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
  });

  it('matches RFC 5869 test case 2 (long inputs and output)', () => {
    const okm = hkdfSha256(range(0x00, 0x4f), range(0x60, 0xaf), range(0xb0, 0xff), 82);
    expect(toHex(okm)).toBe(
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09' +
        'da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
    );
  });

  it('matches RFC 5869 test case 3 (empty salt and info)', () => {
    const okm = hkdfSha256(new Uint8Array(22).fill(0x0b), new Uint8Array(0), new Uint8Array(0), 42);
    expect(toHex(okm)).toBe(
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    );
  });
  it('agrees with OpenSSL (hkdfSync) for keys longer than a block, empty keys and long outputs', () => {
    // HMAC hashes a key longer than SHA-256's 64-byte block first; each length is on an edge.
    for (const [ikmLength, saltLength, infoLength, length] of [
      [32, 20, 180, 32],
      [0, 0, 0, 1],
      [32, 64, 1, 33],
      [65, 65, 300, 255],
      [200, 1000, 0, 64],
    ] as const) {
      const ikm = randomBytes(ikmLength);
      const salt = randomBytes(saltLength);
      const info = randomBytes(infoLength);
      expect(toHex(hkdfSha256(ikm, salt, info, length))).toBe(
        Buffer.from(hkdfSync('sha256', ikm, salt, info, length)).toString('hex'),
      );
    }
  });
});

describe('deriveKey domain separation', () => {
  const secret = fromHex('00'.repeat(31) + '01');

  it('gives different keys for different purposes, rounds and pairs', () => {
    const keys = [
      deriveKey(secret, 'secagg/pairwise-mask', 'round-1', [1, 2]),
      deriveKey(secret, 'secagg/share-box', 'round-1', [1, 2]),
      deriveKey(secret, 'secagg/pairwise-mask', 'round-2', [1, 2]),
      deriveKey(secret, 'secagg/pairwise-mask', 'round-1', [1, 3]),
      deriveKey(secret, 'secagg/pairwise-mask', 'round-1'),
      deriveKey(secret, 'secagg/self-mask', 'round-1'),
    ].map(toHex);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('is symmetric in the pair, so both ends derive the same key', () => {
    expect(deriveKey(secret, 'secagg/pairwise-mask', 'r', [7, 3])).toEqual(
      deriveKey(secret, 'secagg/pairwise-mask', 'r', [3, 7]),
    );
  });

  it('cannot be confused by shifting text between the round id and the purpose', () => {
    // Length prefixes make ('r', pair) and ('r1', …) different encodings.
    expect(deriveKey(secret, 'secagg/self-mask', 'ab')).not.toEqual(
      deriveKey(secret, 'secagg/self-mask', 'a'),
    );
  });
});
