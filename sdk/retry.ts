import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { isServiceError, toVeilsumError, TRANSIENT_CODES } from './errors.ts';

export interface RetryPolicy {
  /** Give up after this long in total. */
  readonly totalMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  totalMs: 120_000,
  initialDelayMs: 100,
  maxDelayMs: 2_000,
};

/** A transient failure about to be retried: what failed, why, and how long retrying may go on. */
export interface RetryNotice {
  readonly step: string;
  readonly code: string;
  readonly details: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly elapsedMs: number;
  readonly giveUpAfterMs: number;
}

const retryListeners = new Set<(notice: RetryNotice) => void>();

/** Hears every retry of this process's calls (the CLI says what it is retrying and why). */
export function onRetry(listener: (notice: RetryNotice) => void): () => void {
  retryListeners.add(listener);
  return () => retryListeners.delete(listener);
}

/**
 * Runs `attempt` until it succeeds, retrying transient failures (the coordinator restarting,
 * a dropped connection) with jittered exponential backoff. `attempt` learns its attempt number:
 * a retried write may find that its first try was already accepted.
 */
export async function withRetry<T>(
  step: string,
  policy: RetryPolicy,
  attempt: (attemptNumber: number) => Promise<T>,
): Promise<T> {
  const started = Date.now();
  let delay = policy.initialDelayMs;
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      const transient = isServiceError(error) && TRANSIENT_CODES.has(error.code);
      if (!transient || Date.now() - started + delay > policy.totalMs)
        throw toVeilsumError(step, error);
      const pause = delay * (0.5 + Math.random());
      for (const listener of retryListeners)
        listener({
          step,
          code: status[error.code],
          details: error.details || error.message,
          attempt: attemptNumber,
          delayMs: pause,
          elapsedMs: Date.now() - started,
          giveUpAfterMs: policy.totalMs,
        });
      await sleep(pause);
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}
