import { createHash, createPublicKey, verify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { encodeFields } from './bytes.ts';
import { CURVE25519_KEY_BYTES } from './curve25519.ts';
import type { RandomSource } from './random.ts';
import { assertBytes } from './validate.ts';

/**
 * A verifiable X25519 shared secret: the holder of an X25519 secret key c (public key C = X25519(c, 9))
 * reveals Z = X25519(c, E) for one peer key E together with a Chaum–Pedersen proof (CRYPTO '92) that
 * the same scalar produced both — so anyone can check Z without learning c, and Z for any other E
 * stays as hard to compute as before (the proof is zero-knowledge; Fiat–Shamir in the random-oracle
 * model).
 *
 * X25519 works on Montgomery u-coordinates, which name a point only up to sign, over a group with
 * cofactor 8; the proof runs on edwards25519 (the birationally equivalent curve) in the prime-order
 * subgroup, where Chaum–Pedersen is sound:
 * - the clamped scalar s (RFC 7748 §5) is a multiple of 8, so X25519(c, E) = u(s0 · 8Ẽ) with
 *   s0 = s / 8, where Ẽ is either lift of E (both give the same u, the sign ambiguity is harmless)
 *   and 8Ẽ lies in the prime-order subgroup; likewise C = u(s0 · 8B);
 * - the prover sends the Edwards points C' = s0 · 8B and Z' = s0 · 8Ẽ (it fixes their signs) and a
 *   proof that log_{8B} C' = log_{8Ẽ} Z'; the verifier checks u(C') = C, that both are torsion-free,
 *   and takes Z = u(Z'). A prover that flips both signs proves the same u(Z'), so Z is unique.
 * E must lift to the curve (not its twist) and not be of small order: `liftPeerKey` says so, and a
 * key that does not is the fault of whoever chose it, checkable by anyone.
 */

const Point = ed25519.Point;
const Fp = Point.Fp;
const Fn = Point.Fn;
const LABEL = 'veilsum/v1/x25519-dleq';
const EIGHT_B = Point.BASE.multiply(8n);

export const DLEQ_POINT_BYTES = 32;
export const DLEQ_PROOF_BYTES = 64;

/** What the holder of the secret key reveals: two Edwards points and the proof (c ‖ r). */
export interface SharedSecretEvidence {
  /** C' = s0 · 8B, whose Montgomery u is the holder's X25519 public key. */
  readonly publicPoint: Uint8Array;
  /** Z' = s0 · 8Ẽ, whose Montgomery u is the shared secret X25519(c, E). */
  readonly sharedPoint: Uint8Array;
  readonly proof: Uint8Array;
}

/** The Montgomery u-coordinate of an X25519 key as X25519 reads it (bit 255 ignored, mod p). */
export function decodeU(key: Uint8Array): bigint {
  const bytes = Uint8Array.from(key);
  bytes[31]! &= 0x7f;
  return Fp.create(bytesToNumberLE(bytes));
}

const EDWARDS_D = Point.CURVE().d;
/** √−1 mod p = 2^((p − 1)/4) (RFC 8032 §5.1.3). */
const SQRT_MINUS_ONE = Fp.pow(2n, (Fp.ORDER - 1n) / 4n);

/**
 * Ẽ, the even-x Edwards lift of an X25519 key: undefined if the key is a point of the twist.
 *
 * y = (u − 1)/(u + 1) (RFC 7748 §4.1), so x² = (y² − 1)/(d·y² + 1) = −4u / (d(u − 1)² + (u + 1)²),
 * and the point (x, y) is (x(u + 1) : u − 1 : u + 1 : x(u − 1)) in extended coordinates: one square
 * root of a ratio and no inversion (decoding y's bytes would invert u + 1 first). The same point
 * as `Point.fromBytes` of y with the sign bit clear; test/unit/dleq-lift.test.ts compares them.
 */
function liftUncleared(peerPublicKey: Uint8Array): EdwardsPoint | undefined {
  assertBytes(peerPublicKey, 'X25519 public key', CURVE25519_KEY_BYTES);
  const u = decodeU(peerPublicKey);
  const uPlusOne = Fp.add(u, Fp.ONE);
  if (Fp.is0(uPlusOne)) return undefined;
  const uMinusOne = Fp.sub(u, Fp.ONE);
  let x = sqrtRatio(
    Fp.neg(Fp.mul(4n, u)),
    Fp.add(Fp.mul(EDWARDS_D, Fp.sqr(uMinusOne)), Fp.sqr(uPlusOne)),
  );
  if (x === undefined) return undefined; // not on edwards25519: u is a point of the twist
  if ((x & 1n) === 1n) x = Fp.neg(x); // the sign of x is ours to choose: even
  return new Point(Fp.mul(x, uPlusOne), uMinusOne, uPlusOne, Fp.mul(x, uMinusOne));
}

/**
 * √(n/v) when n/v is a square in GF(2^255 − 19), else undefined, without inverting v (RFC 8032
 * §5.1.3): x = n·v³·(n·v⁷)^((p−5)/8), then x or x·√−1 is the root.
 */
function sqrtRatio(n: bigint, v: bigint): bigint | undefined {
  const v3 = Fp.mul(Fp.sqr(v), v);
  const v7 = Fp.mul(Fp.sqr(v3), v);
  let x = Fp.mul(Fp.mul(n, v3), powPMinus5Over8(Fp.mul(n, v7)));
  const vx2 = Fp.mul(v, Fp.sqr(x));
  if (vx2 === Fp.neg(n)) x = Fp.mul(x, SQRT_MINUS_ONE);
  else if (vx2 !== n) return undefined;
  return x;
}

/** x^((p−5)/8) = x^(2^252 − 3) mod p, by the addition chain of RFC 8032's reference code. */
function powPMinus5Over8(x: bigint): bigint {
  const p = Fp.ORDER;
  const square = (value: bigint, times: number): bigint => {
    for (let i = 0; i < times; i++) value = (value * value) % p;
    return value;
  };
  const x2 = (x * x) % p;
  const b2 = (x2 * x) % p; // x^(2^2 − 1)
  const b4 = (square(b2, 2) * b2) % p;
  const b5 = (square(b4, 1) * x) % p;
  const b10 = (square(b5, 5) * b5) % p;
  const b20 = (square(b10, 10) * b10) % p;
  const b40 = (square(b20, 20) * b20) % p;
  const b80 = (square(b40, 40) * b40) % p;
  const b160 = (square(b80, 80) * b80) % p;
  const b240 = (square(b160, 80) * b80) % p;
  const b250 = (square(b240, 10) * b10) % p;
  return (square(b250, 2) * x) % p;
}

/** 8Ẽ for an X25519 peer key E: undefined if E is on the twist or of small order. */
export function liftPeerKey(peerPublicKey: Uint8Array): EdwardsPoint | undefined {
  const cleared = liftUncleared(peerPublicKey)?.clearCofactor();
  return cleared === undefined || cleared.is0() ? undefined : cleared;
}

/**
 * The X25519 public key u = (1 + y) / (1 − y) of an Ed25519 public key given as its encoding (the
 * same secret scalar serves both, RFC 7748 §4.1); undefined for a non-canonical y or y = 1.
 */
export function x25519FromEd25519(publicKey: Uint8Array): Uint8Array | undefined {
  assertBytes(publicKey, 'Ed25519 public key', 32);
  const bytes = Uint8Array.from(publicKey);
  bytes[31]! &= 0x7f;
  const y = bytesToNumberLE(bytes);
  if (y >= Fp.ORDER) return undefined;
  const denominator = Fp.sub(Fp.ONE, y);
  if (Fp.is0(denominator)) return undefined;
  return numberToBytesLE(Fp.div(Fp.add(Fp.ONE, y), denominator), 32);
}

/**
 * x25519FromEd25519 for many keys with one field inversion (Montgomery's trick): a member converts
 * each neighbour's advertised sealing key, and one inversion costs as much as ~100 multiplications.
 */
export function x25519FromEd25519Batch(
  publicKeys: readonly Uint8Array[],
): (Uint8Array | undefined)[] {
  const ys = publicKeys.map((publicKey) => {
    assertBytes(publicKey, 'Ed25519 public key', 32);
    const bytes = Uint8Array.from(publicKey);
    bytes[31]! &= 0x7f;
    const y = bytesToNumberLE(bytes);
    return y >= Fp.ORDER || Fp.is0(Fp.sub(Fp.ONE, y)) ? undefined : y;
  });
  const valid = ys.filter((y): y is bigint => y !== undefined);
  const inverses = Fp.invertBatch(valid.map((y) => Fp.sub(Fp.ONE, y)));
  let next = 0;
  return ys.map((y) =>
    y === undefined ? undefined : numberToBytesLE(Fp.mul(Fp.add(Fp.ONE, y), inverses[next++]!), 32),
  );
}

/** Montgomery u = (1 + y) / (1 − y) of an Edwards point, as X25519 encodes it. */
function montgomeryU(point: EdwardsPoint): Uint8Array | undefined {
  const { y } = point.toAffine();
  const denominator = Fp.sub(Fp.ONE, y);
  if (Fp.is0(denominator)) return undefined;
  return numberToBytesLE(Fp.div(Fp.add(Fp.ONE, y), denominator), 32);
}

/** s0 = clamp(c) / 8 mod ℓ (RFC 7748 §5 clamping). */
function clampedScalarOverEight(secretKey: Uint8Array): bigint {
  const bytes = Uint8Array.from(secretKey);
  bytes[0]! &= 248;
  bytes[31]! &= 127;
  bytes[31]! |= 64;
  return Fn.create(bytesToNumberLE(bytes) >> 3n);
}

function challenge(
  context: Uint8Array,
  peerPublicKey: Uint8Array,
  publicPoint: EdwardsPoint,
  sharedPoint: EdwardsPoint,
  commitment1: EdwardsPoint,
  commitment2: EdwardsPoint,
): bigint {
  return hashToScalar(
    `${LABEL}/challenge`,
    context,
    peerPublicKey,
    publicPoint.toBytes(),
    sharedPoint.toBytes(),
    commitment1.toBytes(),
    commitment2.toBytes(),
  );
}

/** SHA-512 of the encoded fields, reduced mod ℓ (a wide reduction: bias 2^-259). */
function hashToScalar(...fields: (string | Uint8Array)[]): bigint {
  return Fn.create(
    bytesToNumberLE(
      createHash('sha512')
        .update(encodeFields(...fields))
        .digest(),
    ),
  );
}

/**
 * Z = X25519(secretKey, peerPublicKey) with the evidence that proves it; `context` binds the
 * proof to its use (round, accuser, accused). Undefined when the peer key does not lift (then no
 * Z is needed: the key itself is the evidence).
 */
export function proveSharedSecret(
  secretKey: Uint8Array,
  peerPublicKey: Uint8Array,
  context: Uint8Array,
  random: RandomSource,
): SharedSecretEvidence | undefined {
  assertBytes(secretKey, 'X25519 secret key', CURVE25519_KEY_BYTES);
  const base = liftPeerKey(peerPublicKey);
  if (base === undefined) return undefined;
  const witness = clampedScalarOverEight(secretKey);
  const publicPoint = EIGHT_B.multiply(witness);
  const sharedPoint = base.multiply(witness);
  // Hedged nonce: the secret, the statement and fresh randomness, so a weak RNG alone leaks nothing.
  const nonce = hashToScalar(
    `${LABEL}/nonce`,
    numberToBytesLE(witness, 32),
    context,
    peerPublicKey,
    random(32),
  );
  if (nonce === 0n) throw new Error('DLEQ nonce is zero');
  const c = challenge(
    context,
    peerPublicKey,
    publicPoint,
    sharedPoint,
    EIGHT_B.multiply(nonce),
    base.multiply(nonce),
  );
  const r = Fn.sub(nonce, Fn.mul(c, witness));
  const proof = new Uint8Array(DLEQ_PROOF_BYTES);
  proof.set(numberToBytesLE(c, 32), 0);
  proof.set(numberToBytesLE(r, 32), 32);
  return { publicPoint: publicPoint.toBytes(), sharedPoint: sharedPoint.toBytes(), proof };
}

/**
 * The shared secret X25519(c, peerPublicKey) that `evidence` proves for the holder of
 * `publicKey` = X25519(c, 9), or undefined if the evidence does not prove it.
 */
export function verifySharedSecret(
  publicKey: Uint8Array,
  peerPublicKey: Uint8Array,
  evidence: SharedSecretEvidence,
  context: Uint8Array,
): Uint8Array | undefined {
  assertBytes(publicKey, 'X25519 public key', CURVE25519_KEY_BYTES);
  const base = liftPeerKey(peerPublicKey);
  if (base === undefined) return undefined;
  if (
    evidence.publicPoint?.length !== DLEQ_POINT_BYTES ||
    evidence.sharedPoint?.length !== DLEQ_POINT_BYTES ||
    evidence.proof?.length !== DLEQ_PROOF_BYTES
  ) {
    return undefined;
  }
  let publicPoint: EdwardsPoint;
  let sharedPoint: EdwardsPoint;
  try {
    publicPoint = Point.fromBytes(evidence.publicPoint);
    sharedPoint = Point.fromBytes(evidence.sharedPoint);
  } catch {
    return undefined;
  }
  if (
    publicPoint.is0() ||
    sharedPoint.is0() ||
    !publicPoint.isTorsionFree() ||
    !sharedPoint.isTorsionFree()
  ) {
    return undefined;
  }
  const expectedPublic = montgomeryU(publicPoint);
  if (expectedPublic === undefined || bytesToNumberLE(expectedPublic) !== decodeU(publicKey)) {
    return undefined;
  }
  const c = bytesToNumberLE(evidence.proof.subarray(0, 32));
  const r = bytesToNumberLE(evidence.proof.subarray(32));
  if (c >= Fn.ORDER || r >= Fn.ORDER) return undefined;
  const commitment1 = EIGHT_B.multiplyUnsafe(r).add(publicPoint.multiplyUnsafe(c));
  const commitment2 = base.multiplyUnsafe(r).add(sharedPoint.multiplyUnsafe(c));
  if (challenge(context, peerPublicKey, publicPoint, sharedPoint, commitment1, commitment2) !== c) {
    return undefined;
  }
  return montgomeryU(sharedPoint);
}

export const KEY_POSSESSION_PROOF_BYTES = 64;

/**
 * The point Q = 8Ẽ whose discrete log to B a key-possession proof shows, for an X25519 public key
 * (liftPeerKey: the lift with even x, cofactor cleared, so Q is in the prime-order group); undefined
 * for a key off the curve, of small order, or with a small-order component. Every honest key
 * X25519(c, 9) = clamp(c)·B is torsion-free, but a key S + T (T of small order) has no X25519
 * secret key at all while 8·lift(S + T) = ±8·lift(S): a proof for it would show knowledge of the
 * wrong thing, and S + T would pass for a key other than S (an attacker review played both). The
 * torsion check is a full scalar multiplication (~1–3 ms with noble). The SecAgg protocol does not
 * use this strict form: the server checks the proof on arrival against liftPeerKey's Q, and since
 * the second reveal the dispute path accepts a key with a small-order component too
 * (secagg/pairwise-reveal.ts: X25519 clears it, and uniqueness is up to sign and torsion).
 * verifyKeyPossession keeps the strict statement for callers that need the key to be an X25519
 * public key of some secret.
 */
function possessionStatement(publicKey: Uint8Array): EdwardsPoint | undefined {
  const point = liftUncleared(publicKey);
  if (point === undefined || !point.isTorsionFree()) return undefined;
  const cleared = point.clearCofactor();
  return cleared.is0() ? undefined : cleared;
}

/** What a key-possession proof signs: the label, its use (`context`) and the key's bytes as sent. */
const possessionMessage = (context: Uint8Array, publicKey: Uint8Array): Uint8Array =>
  encodeFields(`${LABEL}/possession`, context, publicKey);

/**
 * A proof that the prover knows the secret key c of the X25519 public key X25519(c, 9): a Schnorr
 * proof of w with Q = w · B, where Q = 8Ẽ is the even-x lift of the public key with its cofactor
 * cleared (w = ±64·clamp(c)/8 mod ℓ, the sign fixed by the lift), made as an Ed25519 signature
 * (RFC 8032 §5.1: R = r · B, S = r + SHA-512(R ‖ Q ‖ M) · w mod ℓ) by the "public key" Q over
 * M = (label, context, the key's bytes). Ed25519 verification checks [S]B = R + [H(R, Q, M)]Q
 * however w was chosen, so anyone verifies it with an ordinary Ed25519 verifier (OpenSSL here,
 * ~10× noble's point arithmetic): the server checks it on arrival. `context` binds it to its use
 * (round binding and the member that advertised the key), so the proof of one member is no proof
 * for another that copies its key; the key's bytes are signed, so the same point in other bytes
 * (bit 255 set) carries no proof over. 64 bytes (R ‖ S).
 *
 * Whoever knows w can compute X25519(s, key) for every other key S = X25519(s, 9) from S alone
 * (u(w · S'), S' the lift of S): so a pairwise secret revealed with a proven key is one its owner
 * already has — which is what a pairwise reveal for a convicted member must assume.
 */
export function proveKeyPossession(
  secretKey: Uint8Array,
  publicKey: Uint8Array,
  context: Uint8Array,
  random: RandomSource,
): Uint8Array {
  assertBytes(secretKey, 'X25519 secret key', CURVE25519_KEY_BYTES);
  assertBytes(publicKey, 'X25519 public key', CURVE25519_KEY_BYTES);
  // A = s0 · 8B has u(A) = the public key; its even-x lift is ±A, so Q = 8·(±A) = w·B with
  // w = ±64·s0 (base B: the fixed-base tables make both multiplications cheap).
  const s0 = clampedScalarOverEight(secretKey);
  const point = Point.BASE.multiply(Fn.mul(8n, s0));
  const u = montgomeryU(point);
  if (u === undefined || bytesToNumberLE(u) !== decodeU(publicKey))
    throw new Error('the public key is not that of the secret key');
  const odd = (point.toAffine().x & 1n) === 1n;
  const witness = Fn.mul(odd ? Fn.neg(64n) : 64n, s0);
  const statement = (odd ? point.negate() : point).clearCofactor().toBytes();
  const message = possessionMessage(context, publicKey);
  // Hedged nonce (not RFC 8032's deterministic one: w is no hash of a seed), so a weak RNG alone
  // leaks nothing; the verifier cannot tell the difference.
  const nonce = hashToScalar(
    `${LABEL}/possession-nonce`,
    numberToBytesLE(witness, 32),
    message,
    random(32),
  );
  if (nonce === 0n) throw new Error('key-possession nonce is zero');
  const commitment = Point.BASE.multiply(nonce).toBytes();
  const challenge = Fn.create(
    bytesToNumberLE(
      createHash('sha512').update(commitment).update(statement).update(message).digest(),
    ),
  );
  const proof = new Uint8Array(KEY_POSSESSION_PROOF_BYTES);
  proof.set(commitment, 0);
  proof.set(numberToBytesLE(Fn.add(nonce, Fn.mul(challenge, witness)), 32), 32);
  return proof;
}

/**
 * Whether `proof` (proveKeyPossession) shows knowledge of the secret key of `publicKey`, a key
 * with no small-order component (possessionStatement): one lift with a torsion check (noble,
 * ~1–3 ms) and one Ed25519 verification (OpenSSL, ~0.18 ms).
 */
export function verifyKeyPossession(
  publicKey: Uint8Array,
  proof: Uint8Array | undefined,
  context: Uint8Array,
): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== CURVE25519_KEY_BYTES) return false;
  const statement = possessionStatement(publicKey);
  return statement !== undefined && verifyKeyPossessionOfLift(publicKey, statement, proof, context);
}

/**
 * verifyKeyPossession for a caller that already lifted the key: `lift` must be
 * liftPeerKey(publicKey) (the server checks every masking key lifts, then checks its proof).
 */
export function verifyKeyPossessionOfLift(
  publicKey: Uint8Array,
  lift: EdwardsPoint,
  proof: Uint8Array | undefined,
  context: Uint8Array,
): boolean {
  if (!(proof instanceof Uint8Array) || proof.length !== KEY_POSSESSION_PROOF_BYTES) return false;
  try {
    // JWK import of the raw point (RFC 8037); not cached: each key is verified once.
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(lift.toBytes()).toString('base64url') },
      format: 'jwk',
    });
    return verify(null, possessionMessage(context, publicKey), key, proof);
  } catch {
    return false;
  }
}

/**
 * Whether two X25519 public keys name the same point up to sign, as X25519 reads them (bit 255
 * ignored, u reduced mod p): one member's key copied by another, in the same or other bytes.
 */
export function sameX25519Point(a: Uint8Array, b: Uint8Array): boolean {
  return decodeU(a) === decodeU(b);
}
