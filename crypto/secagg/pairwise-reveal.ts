import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js';
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
 * The cleared lifts are computed once per index (a square root and a cofactor clearing, ~0.3 ms a
 * key): checking every other key again on each call cost the coordinator ~0.27 s per disputed
 * member at n = 1000. Build the index only in the dispute path, from every key the checker knows
 * for the round (its own included), once the set is fixed.
 */
export class MaskingKeyIndex {
  private readonly entries = new Map<
    number,
    {
      key: Uint8Array;
      proof: Uint8Array | undefined;
      lift: EdwardsPoint | undefined;
      /** The lift's affine y (the same for ±P). */
      y: bigint | undefined;
    }
  >();
  /** The affine y of a cleared lift → how many indexed keys clear to ±that lift. */
  private readonly holders = new Map<bigint, number>();

  /**
   * `keys`: member, masking key, its proof of possession, and the key's cleared lift where the
   * caller computed it already (liftPeerKey; computed here otherwise).
   */
  constructor(
    keys: Iterable<
      readonly [
        member: number,
        key: Uint8Array,
        proof: Uint8Array | undefined,
        lift?: EdwardsPoint | undefined,
      ]
    >,
  ) {
    for (const [member, key, proof, known] of keys) {
      if (this.entries.has(member)) throw new Error(`member ${member} is indexed twice`);
      const lift = known ?? liftPeerKey(key);
      const y = lift?.toAffine().y;
      this.entries.set(member, { key, proof, lift, y });
      if (y !== undefined) this.holders.set(y, (this.holders.get(y) ?? 0) + 1);
    }
  }

  /** Whether `member` (indexed) owns its masking key in the round bound by `binding`. */
  owns(binding: Uint8Array, member: number): boolean {
    const entry = this.entries.get(member);
    if (entry?.lift === undefined || this.holders.get(entry.y!) !== 1) return false;
    return verifyKeyPossessionOfLift(
      entry.key,
      entry.lift,
      entry.proof,
      maskingKeyPossessionContext(binding, member),
    );
  }
}
