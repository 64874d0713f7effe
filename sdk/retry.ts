import { setTimeout as sleep } from 'node:timers/promises';
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
      await sleep(delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}
