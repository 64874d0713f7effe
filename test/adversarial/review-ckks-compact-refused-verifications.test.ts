import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { encodeProof } from '../../crypto/ckks/encryption-proof.ts';
import { PROOF, SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { CkksVerifyPool } from '../../services/compute/ckks-verify-pool.ts';
import { ceremonyInProcess } from '../support/ckks-keys.ts';
import { standInUploadHandler, zeroCiphertext } from '../support/ckks-upload-stand-in.ts';

/**
 * REVIEW (ckks-compact, THREAT-REVIEW Q8): is work cancelled once its request is refused? A
 * member sends its upload as one-ciphertext batches, each followed by a GARBAGE proof that costs
 * it nothing to make (every response 1: a valid Rice code whose norms pass, so the verifier
 * computes every commitment before the seed comparison fails — 91 ms a proof at SUM_8192, load
 * 0.9, against 128 ms for an honest one). The coordinator queues every batch's verification on
 * its worker pool as the proof arrives; the first failure refuses the stream, but the
 * verifications already queued run to the end: a 10⁶-parameter upload (123 batches) costs ~11 s
 * of verifier CPU per refused upload — 8 refused uploads a round, 8 streams at once — for
 * ~140 MB of traffic and no proving.
 *
 * The sound behaviour asserted: once the upload is refused, at most the verifications already
 * running (one per worker) are completed; the queued ones are dropped.
 */
const engine = await CkksEngine.create(SUM_8192);
const publicKey = ceremonyInProcess(engine, 3, 2, 3).publicKey;
const directory = mkdtempSync(join(tmpdir(), 'review-ckks-refused-'));
const pools = new Set<CkksVerifyPool>();

afterAll(async () => {
  for (const pool of pools) await pool.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('a member streams one-ciphertext batches with garbage proofs', () => {
  it('the verifications queued behind the first failure are not run', async () => {
    const batches = 12;
    // Every verification the handler asks for, and how it ended.
    const original = Object.getOwnPropertyDescriptor(CkksVerifyPool.prototype, 'verify')!
      .value as CkksVerifyPool['verify'];
    const outcomes: Promise<string>[] = [];
    jest.spyOn(CkksVerifyPool.prototype, 'verify').mockImplementation(function (
      this: CkksVerifyPool,
      ...args
    ) {
      pools.add(this);
      const verified = original.apply(this, args);
      outcomes.push(
        verified.then(
          () => 'verified',
          (error: Error) => error.message,
        ),
      );
      return verified;
    });
    const { call, result, send } = standInUploadHandler(
      engine,
      batches,
      directory,
      undefined,
      publicKey,
    );
    const ones = Array.from({ length: PROOF.repetitions }, () =>
      new Float64Array(SUM_8192.polyModulusDegree).fill(1),
    );
    const ciphertext = zeroCiphertext(engine);
    for (let k = 0; k < batches; k++) {
      send({ $case: 'ciphertext', value: ciphertext });
      send({ $case: 'proof', value: encodeProof(engine, k, 1, new Uint8Array(32), ones, ones)! });
    }
    call.emit('end');
    const settled = await Promise.all(outcomes);
    while (result.answered === 'not yet') await new Promise((resolve) => setImmediate(resolve));
    jest.restoreAllMocks();
    // The upload is refused, by the first proof's failure.
    expect(String((result.answered as Error).message)).toMatch(/does not verify/);
    expect(readdirSync(directory)).toEqual([]);
    const ran = settled.filter((outcome) => /does not verify/.test(outcome)).length;
    expect(settled).toHaveLength(batches);
    // SOUND: at most one verification per worker after the first failure (today: all 12 ran).
    const { workers } = [...pools][0]! as unknown as { workers: unknown[] };
    expect(ran).toBeLessThanOrEqual(workers.length + 1);
  }, 120_000);
});
