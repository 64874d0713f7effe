import { afterAll, describe, expect, it } from '@jest/globals';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { seededRandom } from '../../crypto/random.ts';
import { combineMasks, type MaskJob } from '../../crypto/secagg/masks.ts';
import { MaskPool } from '../../services/compute/mask-pool.ts';
import { decodeMaskJobs, encodeMaskJobs } from '../../services/compute/mask-jobs-wire.ts';

describe('MaskPool (real worker threads)', () => {
  const pool = new MaskPool(2);
  afterAll(() => pool.close());

  it('combines seed and pairwise jobs across threads to exactly the single-thread total', async () => {
    const random = seededRandom(31);
    const secretKey = random(32);
    const binding = random(32);
    const jobs: MaskJob[] = [];
    for (let i = 0; i < 9; i++) {
      jobs.push({ kind: 'seed', seed: random(32), sign: i % 2 === 0 ? 1 : -1 });
      jobs.push({
        kind: 'pairwise',
        secretKey,
        peerPublicKey: nativeCurve25519.x25519PublicKey(random(32)),
        binding,
        pair: [1, i + 2],
        publicKeys: [nativeCurve25519.x25519PublicKey(secretKey), random(32)],
        sign: i % 3 === 0 ? -1 : 1,
      });
    }
    const dimension = 70_001; // not a multiple of the 64 KiB chunk
    const parallel = await pool.combine(jobs, dimension);
    expect(parallel).toEqual(combineMasks(jobs, dimension, nativeCurve25519));
    expect(parallel.some((word) => word !== 0)).toBe(true);
  });

  it('sends the jobs as one buffer that decodes to the same jobs, every field and sign', () => {
    const random = seededRandom(32);
    const jobs: MaskJob[] = [
      { kind: 'seed', seed: random(32), sign: -1 },
      {
        kind: 'pairwise',
        secretKey: random(32),
        peerPublicKey: random(32),
        binding: random(48),
        pair: [65535, 2 ** 32 - 1],
        publicKeys: [random(32), random(31)],
        sign: 1,
      },
      { kind: 'seed', seed: random(32), sign: 1 },
    ];
    const encoded = encodeMaskJobs(jobs);
    expect(decodeMaskJobs(encoded)).toEqual(jobs);
    expect(() => decodeMaskJobs(encoded.subarray(0, encoded.length - 1))).toThrow(RangeError);
    expect(decodeMaskJobs(encodeMaskJobs([]))).toEqual([]);
  });

  it('refuses a job a worker cannot run and keeps serving the next combines', async () => {
    const random = seededRandom(33);
    const good: MaskJob[] = [
      { kind: 'seed', seed: random(32), sign: 1 },
      { kind: 'seed', seed: random(32), sign: -1 },
    ];
    // A 31-byte seed passes the wire and throws in the worker's expansion.
    const bad: MaskJob[] = [{ kind: 'seed', seed: random(31), sign: 1 }, ...good];
    await expect(pool.combine(bad, 1_000)).rejects.toThrow(/mask worker refused its jobs/);
    // Both workers are still there: before, the thrown job ended its thread and this waited forever.
    const total = await pool.combine(good, 1_000);
    expect(total).toEqual(combineMasks(good, 1_000, nativeCurve25519));
  });

  it('handles fewer jobs than threads', async () => {
    const seed = new Uint8Array(32).fill(4);
    const total = await pool.combine([{ kind: 'seed', seed, sign: 1 }], 10);
    expect(total).toEqual(combineMasks([{ kind: 'seed', seed, sign: 1 }], 10, nativeCurve25519));
    expect(await pool.combine([], 5)).toEqual(new Uint32Array(5));
  });
});
