import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { sha256 } from '../../crypto/sha256.ts';

describe('sha256 (libsodium one-shot)', () => {
  it('equals node:crypto SHA-256 on any input, views into larger buffers included', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.nat(16),
        fc.nat(16),
        (bytes, head, tail) => {
          const backing = new Uint8Array(head + bytes.length + tail).fill(0xa5);
          backing.set(bytes, head);
          const view = backing.subarray(head, head + bytes.length);
          const expected = new Uint8Array(createHash('sha256').update(bytes).digest());
          expect(sha256(view)).toEqual(expected);
          expect(sha256(bytes)).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('matches FIPS 180-2 "abc" and the empty string', () => {
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
    expect(hex(sha256(new TextEncoder().encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(hex(sha256(new Uint8Array(0)))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});
