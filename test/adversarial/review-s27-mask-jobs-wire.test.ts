import { afterAll, describe, expect, it } from '@jest/globals';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { seededRandom } from '../../crypto/random.ts';
import { combineMasks, type MaskJob } from '../../crypto/secagg/masks.ts';
import { decodeMaskJobs, encodeMaskJobs } from '../../services/compute/mask-jobs-wire.ts';
import { MaskPool } from '../../services/compute/mask-pool.ts';

// Review s27 (attacker): the mask jobs' wire format (mask-jobs-wire.ts) is looser than the jobs
// it carries. A pair index is written with DataView.setUint32, which wraps what deriveKey refuses
// (−1 becomes 2^32 − 1, 1.5 becomes 1), and the decoder reads any kind byte other than 0 as a
// pairwise job and any sign byte other than 1 as −1. Before the change the worker got the jobs
// themselves (structured clone) and deriveKey refused such a pair with an error; now the worker
// computes a mask for another pair and the pool returns it as the total: a wrong mask, silently.
const random = seededRandom(2027);
const pairwise = (pair: readonly [number, number]): MaskJob => ({
  kind: 'pairwise',
  secretKey: random(32),
  peerPublicKey: nativeCurve25519.x25519PublicKey(random(32)),
  binding: random(32),
  pair,
  publicKeys: [random(32), random(32)],
  sign: 1,
});

describe('review s27: mask jobs on the wire', () => {
  const pool = new MaskPool(1);
  afterAll(() => pool.close());

  it.each([
    ['a negative pair index', [-1, 2] as const],
    ['a fractional pair index', [1.5, 2] as const],
  ])('%s is refused through the wire as it is without it', async (_, pair) => {
    const jobs = [pairwise(pair)];
    // The single-thread path (and the old worker path) refuses the job.
    expect(() => combineMasks(jobs, 8, nativeCurve25519)).toThrow(/pair index/);
    // Through the wire the same job must not turn into another pair's mask.
    expect(() => combineMasks(decodeMaskJobs(encodeMaskJobs(jobs)), 8, nativeCurve25519)).toThrow(
      /pair index/,
    );
    await expect(pool.combine(jobs, 8)).rejects.toThrow(/pair index/);
  });

  it('a job buffer with an unknown kind or sign byte is refused, not read as another job', () => {
    const seedJob: MaskJob = { kind: 'seed', seed: random(32), sign: 1 };
    const signByte = encodeMaskJobs([seedJob]);
    signByte[5] = 2; // count (4 bytes), kind, sign
    expect(() => decodeMaskJobs(signByte)).toThrow();
    const kindByte = encodeMaskJobs([pairwise([1, 2])]);
    kindByte[4] = 7;
    expect(() => decodeMaskJobs(kindByte)).toThrow();
  });
});
