import { parentPort } from 'node:worker_threads';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { combineMasks } from '../../crypto/secagg/masks.ts';
import { decodeMaskJobs } from './mask-jobs-wire.ts';

/** Worker side of MaskPool: combines a slice of mask jobs and hands the buffer back (transfer). */
interface CombineRequest {
  readonly id: number;
  /** encodeMaskJobs' bytes. */
  readonly jobs: Uint8Array;
  readonly dimension: number;
}

parentPort!.on('message', (request: CombineRequest) => {
  const before = process.threadCpuUsage();
  let total: Uint32Array;
  try {
    total = combineMasks(decodeMaskJobs(request.jobs), request.dimension, nativeCurve25519);
  } catch (error) {
    // A refused job fails its request only: the worker stays up for the next ones (an uncaught
    // throw would end the thread, and every later combine on the pool would wait forever).
    parentPort!.postMessage({ id: request.id, error: (error as Error).message ?? String(error) });
    return;
  }
  const used = process.threadCpuUsage(before);
  // This thread's CPU time for the job (benchmarks compare it with a single-thread floor).
  const cpuMs = (used.user + used.system) / 1000;
  parentPort!.postMessage({ id: request.id, total, cpuMs }, [total.buffer as ArrayBuffer]);
});
