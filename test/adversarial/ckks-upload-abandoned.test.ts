import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * THREAT-REVIEW Q8 (work for a request nobody waits for): a member streams its upload batch by
 * batch — each proof queues a verification on the coordinator's worker pool — and goes away
 * before the end. Its queued verifications must be dropped (their signal aborted), nothing of
 * the upload staged. Once its stream has ENDED, though, the upload is the coordinator's to
 * commit or refuse: the member leaving then must not abort the verifications the commit waits
 * for. The stream module (services/coordinator/upload-stream.ts) tells the handler which case
 * it is (`abandoned`); the pool is stood in by one that records each verification's signal and
 * settles when told.
 */
interface Queued {
  readonly signal: AbortSignal;
  readonly settle: () => void;
}
const queued: Queued[] = [];
jest.unstable_mockModule('../../services/compute/ckks-verify-pool.ts', () => ({
  CkksVerifyPool: class {
    verify(_s: unknown, _f: number, _w: unknown, _p: unknown, signal: AbortSignal): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => reject(new Error('dropped')), { once: true });
        queued.push({ signal, settle: resolve });
      });
    }
  },
}));
const { CkksEngine } = await import('../../crypto/ckks/engine.ts');
const { SUM_8192 } = await import('../../crypto/ckks/parameters.ts');
const { standInProof, standInUploadHandler, zeroCiphertext } =
  await import('../support/ckks-upload-stand-in.ts');

const engine = await CkksEngine.create(SUM_8192);
const directory = mkdtempSync(join(tmpdir(), 'ckks-upload-abandoned-'));
const ciphertext = zeroCiphertext(engine);

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('a member that leaves in the middle of its upload', () => {
  it('has its queued verifications dropped and nothing staged', async () => {
    queued.length = 0;
    const batches = 3;
    const { call, result, send, uploads } = standInUploadHandler(engine, batches + 1, directory);
    for (let k = 0; k < batches; k++) {
      send({ $case: 'ciphertext', value: ciphertext });
      send({ $case: 'proof', value: standInProof(engine, k) });
      await turn();
    }
    expect(queued).toHaveLength(batches);
    expect(queued.some((job) => job.signal.aborted)).toBe(false);
    call.emit('cancelled');
    await turn();
    // Every verification it queued is dropped; nobody is answered (nobody waits).
    expect(queued.map((job) => job.signal.aborted)).toEqual([true, true, true]);
    expect(result.answered).toBe('not yet');
    expect(uploads.usage).toEqual({ streams: 0, bytes: 0 });
    expect(readdirSync(directory)).toEqual([]);
  });

  it('once its stream has ended, leaving stops nothing: the commit waits for every verification', async () => {
    queued.length = 0;
    const batches = 2;
    const { call, result, send } = standInUploadHandler(engine, batches, directory);
    for (let k = 0; k < batches; k++) {
      send({ $case: 'ciphertext', value: ciphertext });
      send({ $case: 'proof', value: standInProof(engine, k) });
    }
    call.emit('end');
    call.emit('cancelled');
    call.emit('error', new Error('the connection broke'));
    await turn();
    expect(queued.map((job) => job.signal.aborted)).toEqual([false, false]);
    expect(result.answered).toBe('not yet');
    for (const job of queued) job.settle();
    while (result.answered === 'not yet') await turn();
    // Accepted (the stand-in round takes it): the answer carries no error.
    expect(result.answered).toBeNull();
  });
});
