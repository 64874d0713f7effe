import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { fromHex } from '../../crypto/bytes.ts';
import { LowOrderPointError } from '../../crypto/curve25519.ts';
import { ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { nativeCurve25519, onlyLibsodiumMayRefuse } from '../../crypto/curve25519-native.ts';

/**
 * The native backend computes X25519 and checks Ed25519 signatures with libsodium (faster, no
 * KeyObject per call); before, both went through OpenSSL. These tests hold it to OpenSSL's
 * answers exactly — the same shared secrets, the same keys refused, and the same signatures
 * accepted — with OpenSSL called directly as the reference.
 */
const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const opensslX25519 = (secret: Uint8Array, peer: Uint8Array): Uint8Array | 'refused' => {
  try {
    const shared = diffieHellman({
      privateKey: createPrivateKey({
        key: { kty: 'OKP', crv: 'X25519', d: b64u(secret), x: '' },
        format: 'jwk',
      }),
      publicKey: createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: b64u(peer) },
        format: 'jwk',
      }),
    });
    return shared.every((byte) => byte === 0) ? 'refused' : new Uint8Array(shared);
  } catch {
    return 'refused';
  }
};
const nativeX25519 = (secret: Uint8Array, peer: Uint8Array): Uint8Array | 'refused' => {
  try {
    return nativeCurve25519.x25519SharedSecret(secret, peer);
  } catch (error) {
    expect(error).toBeInstanceOf(LowOrderPointError);
    return 'refused';
  }
};
const opensslVerify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => {
  try {
    return nodeVerify(
      null,
      message,
      createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(publicKey) }, format: 'jwk' }),
      signature,
    );
  } catch {
    return false;
  }
};
const ed25519Private = (seed: Uint8Array) =>
  createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64u(seed), x: '' },
    format: 'jwk',
  });

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const leBytes = (value: bigint): Uint8Array => {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
};
const leNumber = (bytes: Uint8Array): bigint =>
  bytes.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
// u-coordinates of the points of order 1, 2, 4 and 8 on curve25519 and the twist, with their
// non-canonical encodings (u + p) and with the unused top bit set.
const SMALL_ORDER_U = [
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  P - 1n,
];
const smallOrderKeys = SMALL_ORDER_U.flatMap((u) => {
  const keys = [leBytes(u)];
  if (u + P < 2n ** 255n) keys.push(leBytes(u + P));
  return keys.flatMap((key) => {
    const top = key.slice();
    top[31]! |= 0x80;
    return [key, top];
  });
});

describe('nativeCurve25519 on libsodium agrees with OpenSSL', () => {
  it('X25519: the same secret for random scalars and random u (either curve, top bit set or not)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (secret, peer) => {
          expect(nativeX25519(secret, peer)).toEqual(opensslX25519(secret, peer));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('X25519: every small-order key (canonical or not, top bit set or not) is refused by both', () => {
    const secret = fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
    expect(smallOrderKeys.length).toBe(14);
    for (const key of smallOrderKeys) {
      expect(opensslX25519(secret, key)).toBe('refused');
      expect(nativeX25519(secret, key)).toBe('refused');
    }
    // u = p and u = p + 1 are 0 and 1 again, refused; p + 2 is 2, a point of large order.
    expect(nativeX25519(secret, leBytes(P + 2n))).toEqual(opensslX25519(secret, leBytes(2n)));
  });

  it('Ed25519: the same verdict for valid, altered and random signatures', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(64 * 8 - 1),
        fc.boolean(),
        (seed, message, bit, alter) => {
          const key = ed25519Private(seed);
          const publicKey = new Uint8Array(
            Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url'),
          );
          const signature = new Uint8Array(nodeSign(null, message, key));
          if (alter) signature[bit >> 3]! ^= 1 << (bit & 7);
          const expected = opensslVerify(publicKey, message, signature);
          if (!alter) expect(expected).toBe(true);
          expect(nativeCurve25519.verify(publicKey, message, signature)).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("Ed25519: crafted signatures (small-order or non-canonical R and A, S ≥ L) get OpenSSL's verdict", () => {
    const message = new TextEncoder().encode('a signer abusing the verifiers');
    const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const publicKey = nativeCurve25519.ed25519PublicKey(seed);
    const digest = createHash('sha512').update(seed).digest();
    const scalarBytes = new Uint8Array(digest.subarray(0, 32));
    scalarBytes[0]! &= 248;
    scalarBytes[31]! &= 127;
    scalarBytes[31]! |= 64;
    const a = leNumber(scalarBytes);
    const challenge = (r: Uint8Array, key: Uint8Array, m: Uint8Array) =>
      leNumber(new Uint8Array(createHash('sha512').update(r).update(key).update(m).digest())) % L;
    const signature = (r: Uint8Array, s: bigint) => {
      const out = new Uint8Array(64);
      out.set(r, 0);
      out.set(leBytes(s), 32);
      return out;
    };
    const identity = leBytes(1n);
    const nonCanonicalIdentity = leBytes(P + 1n);
    const basePoint = fromHex('5866666666666666666666666666666666666666666666666666666666666666');
    const orderTwo = leBytes(P - 1n);
    const cases: [string, Uint8Array, Uint8Array][] = [
      // R = identity, S = h·a: [S]B − [h]A = identity = R (RFC 8032's cofactorless equation holds).
      [
        'R of order 1',
        publicKey,
        signature(identity, (challenge(identity, publicKey, message) * a) % L),
      ],
      [
        'R non-canonical',
        publicKey,
        signature(
          nonCanonicalIdentity,
          (challenge(nonCanonicalIdentity, publicKey, message) * a) % L,
        ),
      ],
      // S ≥ L.
      [
        'S + L',
        publicKey,
        signature(identity, ((challenge(identity, publicKey, message) * a) % L) + L),
      ],
      // A = identity: R = [S]B for S = 1 is B, whatever the message.
      ['A of order 1', identity, signature(basePoint, 1n)],
      ['A non-canonical', nonCanonicalIdentity, signature(basePoint, 1n)],
      ['A of order 2', orderTwo, signature(basePoint, 1n)],
    ];
    for (const [name, key, crafted] of cases) {
      const verdict = { name, native: nativeCurve25519.verify(key, message, crafted) };
      expect(verdict).toEqual({ name, native: opensslVerify(key, message, crafted) });
    }
  });

  it("OpenSSL is asked exactly where libsodium's own rules may be the reason: every torsion point as R or A (either sign), every non-canonical A", () => {
    const torsion = ED25519_TORSION_SUBGROUP.map((hex) => fromHex(hex));
    expect(torsion).toHaveLength(8);
    const signatureWithR = (r: Uint8Array) => {
      const out = new Uint8Array(64).fill(3);
      out.set(r, 0);
      return out;
    };
    const ordinaryKey = nativeCurve25519.ed25519PublicKey(new Uint8Array(32).fill(9));
    const ordinarySignature = new Uint8Array(64).fill(7);
    expect(onlyLibsodiumMayRefuse(ordinaryKey, ordinarySignature)).toBe(false);
    for (const point of torsion) {
      const flipped = point.slice();
      flipped[31]! ^= 0x80;
      for (const encoding of [point, flipped]) {
        expect(onlyLibsodiumMayRefuse(encoding, ordinarySignature)).toBe(true);
        expect(onlyLibsodiumMayRefuse(ordinaryKey, signatureWithR(encoding))).toBe(true);
      }
    }
    // y in [p, 2^255): non-canonical as A.
    for (let excess = 0n; excess < 19n; excess++) {
      const y = leBytes(P + excess);
      expect(onlyLibsodiumMayRefuse(y, ordinarySignature)).toBe(true);
      y[31]! |= 0x80;
      expect(onlyLibsodiumMayRefuse(y, ordinarySignature)).toBe(true);
    }
    expect(onlyLibsodiumMayRefuse(leBytes(P - 2n), ordinarySignature)).toBe(false);
    // Random keys and signatures: libsodium's refusal is final.
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        (key, signature) => {
          expect(onlyLibsodiumMayRefuse(key, signature)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
