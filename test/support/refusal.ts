import { expect } from '@jest/globals';
import { VeilsumError } from '../../sdk/errors.ts';

/** The VeilsumError an SDK call was refused with (the test fails if it succeeded or threw else). */
export async function refusalOf(attempt: Promise<unknown>): Promise<VeilsumError> {
  const outcome = await attempt.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(VeilsumError);
  return outcome as VeilsumError;
}

/** Every member refused, each with FAILED_PRECONDITION and a message matching `message`. */
export function expectAllRefused(outcomes: PromiseSettledResult<unknown>[], message: RegExp): void {
  expect(outcomes.map((outcome) => outcome.status)).toEqual(outcomes.map(() => 'rejected'));
  for (const outcome of outcomes) {
    const error = (outcome as PromiseRejectedResult).reason as VeilsumError;
    expect(error.message).toMatch(message);
    expect(error.code).toBe(9); // FAILED_PRECONDITION
  }
}
