import { describe, expect, it, jest } from '@jest/globals';

/**
 * Review s28 (libsodium in crypto/curve25519-native.ts), THREAT-REVIEW question 8 (resources).
 * `verify` asks libsodium first and, when libsodium refuses, asks OpenSSL too, so that the
 * accepted set stays OpenSSL's. libsodium can be stricter than OpenSSL in three ways only: a
 * small-order R, a small-order A, a non-canonical A (S ≥ L and a non-canonical R both refuse).
 * Every other refusal is final: both compute the same cofactorless equation over the same bytes
 * (a fuzz of mixed-order A and R during this review: 400 cases, no disagreement). And Node 24's
 * OpenSSL (3.5.8) refuses those three as well: every crafted case of
 * test/unit/curve25519-sodium.test.ts is refused by OpenSSL too (checked directly; "R of order 1"
 * satisfies [S]B − [h]A = R, and OpenSSL still refuses it), so in no case played did the
 * fallback change a verdict. Yet every refused signature — the cheapest thing a member can send,
 * and what a member or a coordinator sends to stall a round or load a verifier — pays both
 * checks: measured (load 7 on 2 vCPUs, medians of 5 × 3000 calls, thread CPU time) 186 µs a
 * refused signature through nativeCurve25519.verify against 122 µs through OpenSSL alone before
 * this change (61 µs a valid one): ~1.5x what a refused signature cost before the change.
 * A sound fallback asks OpenSSL only when one of libsodium's extra rules can be the reason (R or
 * A on libsodium's small-order list, or A ≥ p: 32-byte comparisons), after which a refused
 * signature costs one libsodium check. Here OpenSSL's verify is counted while ordinary forged
 * signatures are refused.
 */
const actual = await import('node:crypto');
let opensslChecks = 0;
jest.unstable_mockModule('node:crypto', () => ({
  ...actual,
  default: actual.default,
  verify: (...args: Parameters<typeof actual.verify>) => {
    opensslChecks++;
    return (actual.verify as (...a: unknown[]) => boolean)(...args);
  },
}));
const { nativeCurve25519: curve } = await import('../../crypto/curve25519-native.ts');

describe('review s28: what a refused Ed25519 signature costs a verifier', () => {
  it('a forged signature that no verifier accepts is refused by one check, not two', () => {
    const secret = new Uint8Array(actual.randomBytes(32));
    const publicKey = curve.ed25519PublicKey(secret);
    const message = new TextEncoder().encode('AdvertiseKeys of round 7 from member 12');
    const valid = curve.sign(secret, message);
    const forged: Uint8Array[] = [];
    for (const bit of [3, 100, 255, 300, 500]) {
      const altered = valid.slice();
      altered[bit >> 3]! ^= 1 << (bit & 7);
      forged.push(altered);
    }
    for (let i = 0; i < 5; i++) forged.push(new Uint8Array(actual.randomBytes(64)));
    const otherMessage = new TextEncoder().encode('AdvertiseKeys of round 8 from member 12');

    opensslChecks = 0;
    expect(curve.verify(publicKey, message, valid)).toBe(true);
    expect(opensslChecks).toBe(0);
    for (const signature of forged) expect(curve.verify(publicKey, message, signature)).toBe(false);
    expect(curve.verify(publicKey, otherMessage, valid)).toBe(false);
    // Today: one OpenSSL check after each libsodium refusal (11 here).
    expect(opensslChecks).toBe(0);
  });
});

describe('review s28 (the fix): OpenSSL is asked only where libsodium alone may refuse', () => {
  it('a signature whose R is of small order (RFC 8032 equation holds) still gets OpenSSL’s verdict', () => {
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    const leBytes = (value: bigint) => {
      const out = new Uint8Array(32);
      for (let i = 0; i < 32; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
      return out;
    };
    const leNumber = (bytes: Uint8Array) =>
      bytes.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
    const seed = new Uint8Array(actual.randomBytes(32));
    const publicKey = curve.ed25519PublicKey(seed);
    const scalarBytes = new Uint8Array(actual.createHash('sha512').update(seed).digest()).slice(
      0,
      32,
    );
    scalarBytes[0]! &= 248;
    scalarBytes[31]! &= 127;
    scalarBytes[31]! |= 64;
    const message = new TextEncoder().encode('R is the identity');
    const identity = leBytes(1n);
    const h =
      leNumber(
        new Uint8Array(
          actual.createHash('sha512').update(identity).update(publicKey).update(message).digest(),
        ),
      ) % L;
    const crafted = new Uint8Array(64);
    crafted.set(identity, 0);
    crafted.set(leBytes((h * leNumber(scalarBytes)) % L), 32);
    opensslChecks = 0;
    const verdict = curve.verify(publicKey, message, crafted);
    expect(opensslChecks).toBe(1);
    expect(verdict).toBe(
      actual.verify(
        null,
        message,
        actual.createPublicKey({
          key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
          format: 'jwk',
        }),
        crafted,
      ),
    );
  });
});
