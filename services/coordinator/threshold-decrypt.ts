import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { VeilsumError } from '../../sdk/errors.ts';
import type { CkksRound } from './ckks-round.ts';
import type { CkksKeyring } from './coordinator-state.ts';
import { SharedReads } from './shared-reads.ts';

/**
 * Attempts per keyholder of one responder set before the set is replaced (about 23 s of waits):
 * a replacement set may not reuse a keyholder that answered, so with n < 2t a keyholder that
 * drops out after the set is fixed is worth waiting for.
 */
const ATTEMPTS_PER_SET = 6;
const retryDelayMs = (attempt: number) => Math.min(8_000, 1_000 * 2 ** (attempt - 1));
/** Uploads held at most for keyholders that are behind the others in one prepare. */
const SHARED_UPLOADS = 4;

export interface ThresholdDecryption {
  readonly logger: Logger;
  /** PEM certificate of a roster member, sent with its upload for the keyholders to check. */
  readonly memberCertificate: (memberId: string) => Uint8Array;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Decrypts a closed CKKS round with t keyholders, asking no keyholder for two responder sets:
 *
 * 1. Prepare (liveness and verification): keyholders in index order receive the receipted
 *    uploads and check that the aggregate is their sum, until t have succeeded.
 * 2. Those t are fixed as the responder set — logged in the round before any is asked, so a
 *    restarted coordinator asks the same set again (and gets the same bytes).
 * 3. Each is asked for its partials; a transient failure is retried with the same set. A
 *    keyholder that refuses or stays down is dropped and the set is replaced by keyholders that
 *    have not answered this aggregate: those that did are bound to the old set and would refuse
 *    (ALREADY_EXISTS) — a keyholder never gives two partials of one ciphertext.
 */
export async function thresholdDecrypt(
  { key, engine, keyholders }: CkksKeyring,
  round: CkksRound,
  aggregate: Uint8Array[],
  options: ThresholdDecryption,
): Promise<Float64Array> {
  const { threshold } = key;
  const { logger } = options;
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const prepared = new Set<number>();
  /** Keyholders out of this round: down, refusing, or bound to an earlier set. */
  const out = new Map<number, string>();
  const partials = new Map<number, Uint8Array[]>();
  const receipted = round.receipts().map((receipt) => ({
    memberId: receipt.memberId,
    index: round.indexOf(receipt.memberId)!,
    certificate: options.memberCertificate(receipt.memberId),
  }));
  // Keyholders prepared together share one checked read of each upload (shared-reads.ts).
  const uploadsFor = (reads: SharedReads<Uint8Array[]>) =>
    receipted.map(({ memberId, index, certificate }) => ({
      memberId,
      certificate,
      ciphertexts: () => reads.get(index, () => round.uploadCiphertexts(index)),
      proofs: () => round.uploadProofs(index),
    }));
  const header = {
    roundId: round.id,
    params: round.params,
    graphSeed: Buffer.from(round.graphSeed),
  };

  const prepare = async (indices: readonly number[]) => {
    const uploads = uploadsFor(new SharedReads(indices.length, SHARED_UPLOADS));
    const answers = await Promise.allSettled(
      indices.map((index) => keyholders.get(index)!.prepareDecryption(header, uploads)),
    );
    answers.forEach((answer, i) => {
      const index = indices[i]!;
      if (answer.status === 'fulfilled') prepared.add(index);
      else {
        const reason = (answer.reason as Error).message;
        out.set(index, reason);
        logger.warn(
          { event: 'keyholder-not-prepared', round: round.id, keyholder: index, reason },
          'keyholder did not verify the aggregate',
        );
      }
    });
  };

  let set = round.responders;
  for (;;) {
    if (set === undefined) {
      const candidates = () =>
        [...keyholders.keys()].sort((a, b) => a - b).filter((index) => !out.has(index));
      while (candidates().filter((i) => prepared.has(i)).length < threshold) {
        const more = candidates()
          .filter((i) => !prepared.has(i))
          .slice(0, threshold - candidates().filter((i) => prepared.has(i)).length);
        if (more.length === 0) break;
        await prepare(more);
      }
      const ready = candidates().filter((i) => prepared.has(i));
      if (ready.length < threshold) throw tooFew(threshold, out);
      set = ready.slice(0, threshold);
      round.fixResponders(set);
      logger.info(
        { event: 'responders-fixed', round: round.id, responders: set },
        'responder set fixed',
      );
    }
    const responders = set;
    // After a restart the set comes from the round log: make sure each has verified (idempotent).
    const unprepared = responders.filter((i) => !prepared.has(i) && !partials.has(i));
    if (unprepared.length > 0) await prepare(unprepared);

    for (let attempt = 1; attempt <= ATTEMPTS_PER_SET; attempt++) {
      const asking = responders.filter((i) => !partials.has(i) && !out.has(i));
      const answers = await Promise.allSettled(
        asking.map((index) =>
          keyholders
            .get(index)!
            .partialDecrypt(
              { ...header, responders: [...responders], ciphertexts: aggregate.length },
              aggregate,
            ),
        ),
      );
      answers.forEach((answer, i) => {
        const index = asking[i]!;
        if (answer.status === 'fulfilled') {
          partials.set(index, answer.value);
          return;
        }
        const error = answer.reason as Error;
        logger.warn(
          {
            event: 'keyholder-failed',
            round: round.id,
            keyholder: index,
            attempt,
            reason: error.message,
          },
          'keyholder did not answer',
        );
        if (!isTransient(error) || attempt === ATTEMPTS_PER_SET) out.set(index, error.message);
      });
      if (responders.every((i) => partials.has(i))) {
        logger.info(
          { event: 'decrypted', round: round.id, responders },
          `${responders.length} keyholders answered`,
        );
        return engine.combine(
          aggregate,
          responders.map((i) => partials.get(i)!),
          round.dimension,
        );
      }
      if (responders.some((i) => out.has(i))) break;
      await sleep(retryDelayMs(attempt));
    }
    // The set cannot complete. Whoever answered is bound to it: they leave with it.
    for (const index of responders) {
      if (partials.has(index)) out.set(index, `answered for responders [${responders.join(', ')}]`);
    }
    partials.clear();
    logger.warn(
      { event: 'responder-set-replaced', round: round.id, responders },
      'responder set could not complete; choosing another',
    );
    set = undefined;
  }
}

function isTransient(error: Error): boolean {
  const code = error instanceof VeilsumError ? error.code : undefined;
  return (
    code === status.UNAVAILABLE ||
    code === status.DEADLINE_EXCEEDED ||
    code === status.INTERNAL ||
    code === status.UNKNOWN ||
    code === status.CANCELLED
  );
}

function tooFew(threshold: number, out: ReadonlyMap<number, string>): Error {
  const reasons = [...out].map(([index, reason]) => `keyholder ${index}: ${reason}`).join('; ');
  return new Error(`fewer than ${threshold} keyholders answered (${reasons})`);
}
