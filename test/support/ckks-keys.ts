import type { CkksEngine } from '../../crypto/ckks/engine.ts';
import {
  ceremonyReferencePolynomial,
  collectivePublicShare,
  combineDealtShares,
  dealKeyShare,
} from '../../crypto/ckks/key-ceremony.ts';
import { seededRandom, systemRandom } from '../../crypto/random.ts';
import { lagrangeWeights } from '../../crypto/ckks/threshold-decryption.ts';

/**
 * The threshold key ceremony's arithmetic among `n` keyholders run in one process (the services
 * run the same steps across processes): the collective public key and each keyholder's share.
 */
export function ceremonyInProcess(engine: CkksEngine, n: number, threshold: number, seed = 1) {
  const indices = Array.from({ length: n }, (_, i) => i + 1);
  const a = ceremonyReferencePolynomial(engine.keyRns, new Uint8Array(32).fill(seed));
  const dealings = indices.map((i) =>
    dealKeyShare(
      a,
      engine.keyRns,
      engine.dataRns,
      threshold,
      indices,
      seededRandom(seed * 1000 + i),
    ),
  );
  const shares = indices.map((_, k) =>
    combineDealtShares(
      engine.dataRns,
      dealings.map((dealing) => dealing.dealt[k]!),
    ),
  );
  const publicKey = engine.publicKeyBytes(
    collectivePublicShare(
      engine.keyRns,
      dealings.map((dealing) => dealing.publicShare),
    ),
    a,
  );
  return { indices, publicKey, shares };
}

/**
 * The partial decryptions of `responders` (1-based keyholder indices) for an aggregate, each
 * weighted for the responder set `weightedFor` (the responders themselves unless a test says
 * otherwise).
 */
export function partialsFor(
  engine: CkksEngine,
  aggregate: readonly Uint8Array[],
  shares: readonly BigUint64Array[],
  responders: readonly number[],
  floodBits: number,
  weightedFor: readonly number[] = responders,
): Uint8Array[][] {
  return responders.map((index) =>
    engine.partialDecrypt(
      aggregate,
      shares[index - 1]!,
      lagrangeWeights(index, weightedFor, engine.dataRns.moduli),
      floodBits,
      systemRandom,
    ),
  );
}
