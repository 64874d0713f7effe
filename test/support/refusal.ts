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
