import type { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ceremonyInOneProcess } from '../../crypto/ckks/key-ceremony.ts';
import { seededRandom, systemRandom } from '../../crypto/random.ts';

/** The ceremony's arithmetic among `n` keyholders in this process, from a seed. */
export function ceremonyInProcess(engine: CkksEngine, n: number, threshold: number, seed = 1) {
  return ceremonyInOneProcess(engine, n, threshold, seededRandom(seed));
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
  floodSigma: number,
  weightedFor: readonly number[] = responders,
): Uint8Array[][] {
  return responders.map((index) =>
    engine.partialDecrypt(
      aggregate,
      shares[index - 1]!,
      index,
      weightedFor,
      floodSigma,
      systemRandom,
    ),
  );
}
