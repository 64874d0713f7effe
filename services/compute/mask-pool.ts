import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { addInto } from '../../crypto/prg.ts';
import type { MaskJob } from '../../crypto/secagg/masks.ts';
import { encodeMaskJobs } from './mask-jobs-wire.ts';

/**
 * Spreads mask expansion — the aggregator's dominant cost — over worker threads. Each worker
 * combines a contiguous slice of the jobs into one vector; the partial totals are added on the
 * calling thread. The jobs go out as one transferred buffer (mask-jobs-wire.ts), one d-vector per
 * worker comes back.
 */
export class MaskPool {
  private readonly workers: Worker[];
  private nextId = 0;
  /** CPU time the workers have spent on jobs so far (ms, all threads). */
  workerCpuMs = 0;
  private readonly pending = new Map<
    number,
    { resolve: (total: Uint32Array) => void; reject: (error: Error) => void }
  >();

  constructor(size: number = availableParallelism()) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => {
      const worker = new Worker(new URL('./mask-worker.ts', import.meta.url));
      worker.on(
        'message',
        (
          answer: { id: number; total: Uint32Array; cpuMs: number } | { id: number; error: string },
        ) => {
          const request = this.pending.get(answer.id);
          this.pending.delete(answer.id);
          if ('error' in answer) {
            request?.reject(new Error(`a mask worker refused its jobs: ${answer.error}`));
            return;
          }
          this.workerCpuMs += answer.cpuMs;
          request?.resolve(answer.total);
        },
      );
      // A crashed worker fails every request in flight rather than leaving it waiting forever.
      worker.on('error', (error: Error) => {
        for (const { reject } of this.pending.values()) reject(error);
        this.pending.clear();
      });
      return worker;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  async combine(jobs: readonly MaskJob[], dimension: number): Promise<Uint32Array> {
    const slice = Math.ceil(jobs.length / this.workers.length);
    const partials = await Promise.all(
      this.workers.map((worker, w) => {
        const id = this.nextId++;
        const result = new Promise<Uint32Array>((resolve, reject) =>
          this.pending.set(id, { resolve, reject }),
        );
        const encoded = encodeMaskJobs(jobs.slice(w * slice, (w + 1) * slice));
        worker.postMessage({ id, jobs: encoded, dimension }, [encoded.buffer as ArrayBuffer]);
        return result;
      }),
    );
    const total = partials[0]!;
    for (const partial of partials.slice(1)) addInto(total, partial);
    return total;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
