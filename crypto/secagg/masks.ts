import type { Curve25519 } from '../curve25519.ts';
import { deriveKey } from '../kdf.ts';
import { applyMask } from '../prg.ts';

/**
 * One mask present in a masked vector: sign · PRG(seed). A pairwise mask carries the key
 * agreement that yields its seed instead of the seed itself, so that whoever expands the mask —
 * possibly on another thread — also does the X25519 agreement, and both spread over the cores.
 */
export type MaskJob =
  | { readonly kind: 'seed'; readonly seed: Uint8Array; readonly sign: 1 | -1 }
  | {
      readonly kind: 'pairwise';
      readonly secretKey: Uint8Array;
      readonly peerPublicKey: Uint8Array;
      /** RoundContext.binding of the round. */
      readonly binding: Uint8Array;
      readonly pair: readonly [number, number];
      /** The masking public keys of pair[0] and pair[1], bound into the derived seed. */
      readonly publicKeys: readonly [Uint8Array, Uint8Array];
      readonly sign: 1 | -1;
    };

/** s_{u,v} = HKDF(X25519(s_u^SK, s_v^PK), pairwise-mask, binding, {u, v}, {s_u^PK, s_v^PK}) — or the given seed. */
export function maskSeed(job: MaskJob, curve: Curve25519): Uint8Array {
  if (job.kind === 'seed') return job.seed;
  const shared = curve.x25519SharedSecret(job.secretKey, job.peerPublicKey);
  return deriveKey(shared, 'secagg/pairwise-mask', job.binding, job.pair, job.publicKeys);
}

/**
 * Σ sign · PRG(seed) over all jobs, mod 2^32, added into `into` (default: a fresh zero vector of
 * `dimension` words) and returned. Pure given a fresh vector, so callers may split the jobs across
 * threads (services/compute/mask-pool.ts) and add the partial totals; a client masks its own
 * input in place by passing it (SecAggClient.completeMaskedInputInPlace), which saves a
 * full-length mask total.
 */
export function combineMasks(
  jobs: readonly MaskJob[],
  dimension: number,
  curve: Curve25519,
  into: Uint32Array = new Uint32Array(dimension),
): Uint32Array {
  if (into.length !== dimension)
    throw new RangeError(`mask destination length ${into.length} does not match ${dimension}`);
  for (const job of jobs) applyMask(into, maskSeed(job, curve), job.sign);
  return into;
}
