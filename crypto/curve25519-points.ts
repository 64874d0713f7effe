import { CURVE25519_KEY_BYTES } from './curve25519.ts';
import { decodeU } from './dleq.ts';

/**
 * Which X25519 public keys name a point of curve25519 itself (not of its twist) that is not of
 * small order — the keys whose cofactor-cleared Edwards lift exists and is not the identity,
 * exactly when `liftPeerKey` (dleq.ts) returns a point — without computing that lift.
 *
 * A member checks every neighbour's masking key this way at ShareKeys. The lift costs a field
 * inversion and a square root (two 255-bit exponentiations in BigInt, ~0.2 ms a key, ~20 ms a
 * member at k = 80); this check is one Jacobi symbol by the binary algorithm (no exponentiation)
 * and a comparison against the four small-order u-coordinates:
 * - u lies on curve25519 (v² = u³ + A·u² + u, A = 486662) iff f(u) = u³ + A·u² + u is a square
 *   mod p; then the Edwards lift x = √(−486664)·u/v exists (−486664 is a square mod p), with
 *   y = (u − 1)/(u + 1). u = −1 has no lift (y's denominator vanishes) and is refused, as
 *   liftPeerKey refuses it.
 * - The points of order dividing 8 on curve25519 have u ∈ {0, 1, U8, U8'} (order 2, 4, and the two
 *   u of the four points of order 8); for every other point on the curve 8·P ≠ 0.
 * test/unit/curve25519-points.test.ts checks agreement with liftPeerKey on random keys of both
 * curves, every small-order key and non-canonical encodings.
 */
const P = 2n ** 255n - 19n;
const A = 486662n;
const SMALL_ORDER_U = new Set<bigint>([
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
]);

/**
 * The Jacobi symbol (a / n) for odd n > 0: 1, −1, or 0 when they share a factor. Euclid's
 * algorithm with the factors of 2 stripped at once: the low bits each step needs are read as one
 * 32-bit Number (a BigInt op each is most of the cost: ~150 steps for 255-bit operands).
 */
export function jacobi(a: bigint, n: bigint): -1 | 0 | 1 {
  a %= n;
  if (a < 0n) a += n;
  let result: -1 | 1 = 1;
  while (a !== 0n) {
    let low = Number(BigInt.asUintN(32, a));
    // 32 factors of 2 at a time leave the sign alone ((2/n)^32 = 1).
    while (low === 0) {
      a >>= 32n;
      low = Number(BigInt.asUintN(32, a));
    }
    const twos = 31 - Math.clz32(low & -low);
    if (twos > 0) a >>= BigInt(twos);
    const nLow = Number(BigInt.asUintN(32, n));
    // (2/n) = −1 iff n ≡ 3, 5 (mod 8).
    const r = nLow & 7;
    if ((twos & 1) === 1 && (r === 3 || r === 5)) result = result === 1 ? -1 : 1;
    // Quadratic reciprocity for odd a, n (a's two low bits after the shift).
    const aLow = twos <= 30 ? (low >>> twos) & 3 : Number(BigInt.asUintN(2, a));
    if (aLow === 3 && (nLow & 3) === 3) result = result === 1 ? -1 : 1;
    const next = n % a;
    n = a;
    a = next;
  }
  return n === 1n ? result : 0;
}

/** Whether X25519 key `key` is a point of curve25519 (not its twist) of order > 8. */
export function isLiftableOfLargeOrder(key: Uint8Array): boolean {
  if (!(key instanceof Uint8Array) || key.length !== CURVE25519_KEY_BYTES) return false;
  const u = decodeU(key);
  if (u === P - 1n || SMALL_ORDER_U.has(u)) return false;
  const u2 = (u * u) % P;
  const f = (u2 * u + A * u2 + u) % P;
  return jacobi(f, P) === 1;
}
