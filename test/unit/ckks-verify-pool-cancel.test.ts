import { afterAll, describe, expect, it } from '@jest/globals';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { encodeProof } from '../../crypto/ckks/encryption-proof.ts';
import { PROOF, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import {
  CkksVerifyPool,
  VerificationCancelledError,
} from '../../services/compute/ckks-verify-pool.ts';
import { ceremonyInProcess } from '../support/ckks-keys.ts';
import { zeroCiphertext } from '../support/ckks-upload-stand-in.ts';

/**
 * CkksVerifyPool's cancel (review-ckks-compact #5): a caller that gives up (its AbortSignal
 * aborts: its upload was refused) has its QUEUED verifications dropped, while the one a worker
 * already runs is finished, and other callers' verifications (other members' uploads) still run.
 */
const engine = await CkksEngine.create(SUM_8192);
const pool = new CkksVerifyPool(SUM_8192.name, ceremonyInProcess(engine, 3, 2, 3).publicKey, 1);
const ones = Array.from({ length: PROOF.repetitions }, () =>
  new Float64Array(SUM_8192.polyModulusDegree).fill(1),
);
const statement = {
  roundId: 'round-1',
  paramsHash: new Uint8Array(32),
  keySha256: new Uint8Array(32),
  memberId: 'm',
  totalCiphertexts: 4,
};
const garbage = (k: number) => encodeProof(engine, k, 1, new Uint8Array(32), ones, ones)!;
const outcome = (verified: Promise<void>) =>
  verified.then(
    () => 'verified',
    (error: Error) => (error instanceof VerificationCancelledError ? 'dropped' : error.message),
  );

afterAll(async () => {
  await pool.close();
});

describe('a caller that gives up', () => {
  it('has its queued verifications dropped; the running one and other callers’ still run', async () => {
    const ciphertext = zeroCiphertext(engine);
    const refused = new AbortController();
    const other = new AbortController();
    const mine = [0, 1, 2].map((k) =>
      outcome(pool.verify(statement, k, [ciphertext], garbage(k), refused.signal)),
    );
    const theirs = outcome(pool.verify(statement, 3, [ciphertext], garbage(3), other.signal));
    refused.abort();
    const late = outcome(pool.verify(statement, 0, [ciphertext], garbage(0), refused.signal));
    const [first, ...queued] = await Promise.all(mine);
    // The first was already given to the (only) worker: it runs to its answer.
    expect(first).toMatch(/does not verify/);
    expect(queued).toEqual(['dropped', 'dropped']);
    expect(await late).toBe('dropped');
    // Another member's verification queued behind the dropped ones is not dropped.
    expect(await theirs).toMatch(/does not verify/);
  }, 60_000);
});
