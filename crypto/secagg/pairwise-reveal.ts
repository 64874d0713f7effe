import { liftPeerKey, verifyKeyPossessionOfLift } from '../dleq.ts';
import { maskingKeyPossessionContext } from './transcript.ts';

/**
 * Whether a pairwise secret X25519(s_u, K_v) revealed "with" member v is one v already has, so
 * revealing it (or using it) gives away nothing v's s^SK would not: the rule every member checks
 * before it reveals such a secret, and the server before it uses one (issue 17).
 *
 * - v proved it knows w = dlog_B(8·lift(K_v)), bound to the round and to v (AdvertiseKeys'
 *   maskingKeyProof): whoever knows w computes X25519(s_u, K_v) = u(s0_u · 8·lift(K_v)) =
 *   u((w / 8) · lift(S_u)) from u's public key alone.
 * - A small-order component T changes nothing: X25519 clamps its scalar to a multiple of 8, so
 *   X25519(s_u, K + T) = X25519(s_u, K), the secret u masked with is that of K, and the proof is
 *   checked against the cleared lift 8·lift(K + T) = ±8·lift(K) — what v knows is exactly what
 *   the revealed secret needs. Refusing such keys let one member stop the round.
 * - K_v's torsion-free part is no other member's key's, up to sign (the cleared lifts differ):
 *   otherwise X25519(s_u, K_v) would also be the secret of the pair (u, w), which v's proof (of
 *   w's key, say with the help of a colluding w) says nothing about — keys copied with bit 255
 *   set, with a torsion component, or negated all land here.
 *
 * `others`: every other key the checker knows (its own included), each at most once.
 */
export function ownsMaskingKey(
  binding: Uint8Array,
  member: number,
  maskingPublicKey: Uint8Array,
  maskingKeyProof: Uint8Array | undefined,
  others: Iterable<Uint8Array>,
): boolean {
  const lift = liftPeerKey(maskingPublicKey);
  if (lift === undefined) return false;
  const negated = lift.negate();
  for (const other of others) {
    const otherLift = liftPeerKey(other);
    if (otherLift !== undefined && (otherLift.equals(lift) || otherLift.equals(negated)))
      return false;
  }
  return verifyKeyPossessionOfLift(
    maskingPublicKey,
    lift,
    maskingKeyProof,
    maskingKeyPossessionContext(binding, member),
  );
}
