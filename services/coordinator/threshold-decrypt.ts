import type { Logger } from 'pino';
import type { CkksRound } from './ckks-round.ts';
import type { CkksKeyring } from './coordinator-state.ts';

/**
 * Partial decryptions from t keyholders, combined. Keyholders are tried in index order; one
 * that fails (down, or refusing) is dropped and the next set of t is asked — the Lagrange
 * weights depend on the responder set, so every member of a new set answers again.
 */
export async function thresholdDecrypt(
  { key, engine, keyholders }: CkksKeyring,
  round: CkksRound,
  aggregate: Uint8Array[],
  logger: Logger,
): Promise<Float64Array> {
  const available = [...keyholders.keys()].sort((a, b) => a - b);
  const failures: string[] = [];
  while (available.length >= key.threshold) {
    const responders = available.slice(0, key.threshold);
    const header = {
      roundId: round.id,
      params: round.params,
      graphSeed: Buffer.from(round.graphSeed),
      responders,
      ciphertexts: aggregate.length,
    };
    const answers = await Promise.allSettled(
      responders.map((index) => keyholders.get(index)!.partialDecrypt(header, aggregate)),
    );
    const failed = responders.filter((_, i) => answers[i]!.status === 'rejected');
    if (failed.length === 0) {
      const partials = answers.map((a) => (a as PromiseFulfilledResult<Uint8Array[]>).value);
      logger.info(
        { event: 'decrypted', round: round.id, responders },
        `${responders.length} keyholders answered`,
      );
      return engine.combine(aggregate, partials, round.dimension);
    }
    for (const index of failed) {
      const reason = (answers[responders.indexOf(index)] as PromiseRejectedResult).reason as Error;
      failures.push(`keyholder ${index}: ${reason.message}`);
      logger.warn(
        { event: 'keyholder-failed', round: round.id, keyholder: index, reason: reason.message },
        'keyholder did not answer',
      );
      available.splice(available.indexOf(index), 1);
    }
  }
  throw new Error(`fewer than ${key.threshold} keyholders answered (${failures.join('; ')})`);
}
