import { describe, expect, it } from '@jest/globals';
import { hkdfSync } from 'node:crypto';
import { encodeFields, fieldsPrefix, toHex } from '../../crypto/bytes.ts';
import { deriveKey } from '../../crypto/kdf.ts';
import { shareBoxAssociatedData } from '../../crypto/secagg/transcript.ts';

// Review s27 (attacker): fieldsPrefix is exported and returns the very buffer its cache keeps. Its
// callers in crypto/ copy it (encodeFieldsAfter), but any code that writes into the prefix it was
// handed (a caller that zeroes "its" buffer after use, an in-place encoder) silently changes every
// later KDF info, AEAD associated data and commitment of that round: the labels' own cache
// (utf8Label) says "the encoding is never handed out"; this one is.
const SALT = new TextEncoder().encode('veilsum/v1/hkdf-salt');

describe('review s27: fieldsPrefix cache', () => {
  it('a prefix handed out and then modified does not change later derived keys', () => {
    const round = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);
    const secret = new Uint8Array(32).fill(9);
    const expected = new Uint8Array(
      hkdfSync(
        'sha256',
        secret,
        SALT,
        encodeFields('veilsum/v1', 'secagg/pairwise-mask', round, 1, 2),
        32,
      ),
    );
    expect(toHex(deriveKey(secret, 'secagg/pairwise-mask', round, [1, 2]))).toBe(toHex(expected));
    // A caller that got the prefix (the same labels and binding deriveKey uses) and wiped it.
    fieldsPrefix(round, 'veilsum/v1', 'secagg/pairwise-mask').fill(0);
    expect(toHex(deriveKey(secret, 'secagg/pairwise-mask', round, [1, 2]))).toBe(toHex(expected));
  });

  it('a prefix handed out and then modified does not change later associated data', () => {
    const binding = new Uint8Array(32).fill(7);
    const expected = encodeFields('veilsum/v1/secagg/share-keys', binding, 3, 4);
    expect(toHex(shareBoxAssociatedData(binding, 3, 4))).toBe(toHex(expected));
    const handedOut = fieldsPrefix(binding, 'veilsum/v1/secagg/share-keys');
    // Pointing the cached binding at another round's: the same length, other bytes.
    handedOut.set(new Uint8Array(32).fill(8), handedOut.length - 32);
    expect(toHex(shareBoxAssociatedData(binding, 3, 4))).toBe(toHex(expected));
  });

  it("a Buffer binding reused for the next round gets that round's keys, not the cached ones", () => {
    // fieldsPrefix keeps `binding.slice()` as its copy; Buffer#slice is a view of the same memory,
    // so a caller that writes round B's binding into round A's Buffer matches A's cached entry and
    // gets A's prefix: keys, associated data and commitments of round A, inside round B.
    const binding = Buffer.alloc(32, 0xa1);
    const secret = new Uint8Array(32).fill(5);
    const roundA = toHex(deriveKey(secret, 'secagg/self-mask', binding));
    binding.fill(0xb2); // round B's binding, in the same buffer
    const roundB = toHex(
      new Uint8Array(
        hkdfSync(
          'sha256',
          secret,
          SALT,
          encodeFields('veilsum/v1', 'secagg/self-mask', new Uint8Array(32).fill(0xb2)),
          32,
        ),
      ),
    );
    expect(roundB).not.toBe(roundA);
    const derived = toHex(deriveKey(secret, 'secagg/self-mask', binding));
    expect(derived).not.toBe(roundA); // round A's self-mask seed, served in round B
    expect(derived).toBe(roundB);
    expect(toHex(shareBoxAssociatedData(binding, 1, 2))).toBe(
      toHex(encodeFields('veilsum/v1/secagg/share-keys', binding, 1, 2)),
    );
  });
});
