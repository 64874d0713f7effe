import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  InvalidEncryptionProofError,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';

/** One verification asked of the pool, queued until a worker is free. */
interface Job {
  readonly id: number;
  readonly statement: ProofStatement;
  readonly first: number;
  readonly wires: Uint8Array<ArrayBuffer>[];
  readonly proof: Uint8Array<ArrayBuffer>;
  readonly signal: AbortSignal | undefined;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly dropIfAborted: () => void;
}

interface Slot {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** The verification this worker is running (at most one: the rest wait in the pool's queue). */
  running: Job | undefined;
  /** Set when the worker crashed: it is given nothing more. */
  failed: Error | undefined;
}

/** Why a queued verification was dropped: its caller no longer wants the answer. */
export class VerificationCancelledError extends Error {}

/**
 * Verifies encryption proofs on worker threads (`verifyEncryptionProof`, one SEAL instance per
 * thread), so a coordinator keeps receiving and adding uploads while batches are checked and
 * uses every core for the checks. Each worker runs one verification at a time; the others wait
 * here, in order, so a caller that gives up (its `signal` aborts: the upload was refused or
 * went away) has its queued verifications dropped without costing a worker anything. A
 * verification already running is finished (a worker cannot be interrupted mid-proof).
 */
export class CkksVerifyPool {
  private readonly workers: Slot[];
  private readonly queue: Job[] = [];
  private nextId = 0;

  constructor(setName: string, publicKey: Uint8Array, size: number = availableParallelism()) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => {
      const worker = new Worker(new URL('./ckks-verify-worker.ts', import.meta.url), {
        workerData: { setName, publicKey },
      });
      worker.unref();
      const ready = new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      ready.catch(() => undefined);
      const slot: Slot = { worker, ready, running: undefined, failed: undefined };
      worker.on('message', (message: { id?: number; verified?: boolean; error?: string }) => {
        if (message.id === undefined) return;
        const job = slot.running;
        if (job === undefined || job.id !== message.id) return;
        slot.running = undefined;
        job.signal?.removeEventListener('abort', job.dropIfAborted);
        // Verified only when the worker says so: any other answer is a refusal.
        if (message.verified === true) job.resolve();
        else
          job.reject(
            new InvalidEncryptionProofError(
              message.error ?? 'the verifier gave no answer',
              job.first,
              job.wires.length,
            ),
          );
        // The next job starts after this answer's consequences (a refusal aborting its
        // caller's queued jobs) have run, so nothing of a refused upload is started meanwhile.
        setImmediate(() => this.dispatch());
      });
      // A crashed worker fails what it was running rather than leaving it waiting; the other
      // workers take what waits (when none is left, `dispatch` fails it).
      worker.on('error', (error: Error) => {
        slot.failed = error;
        const job = slot.running;
        slot.running = undefined;
        if (job !== undefined) {
          job.signal?.removeEventListener('abort', job.dropIfAborted);
          job.reject(error);
        }
        this.dispatch();
      });
      return slot;
    });
  }

  /**
   * Resolves when the proof verifies; rejects with InvalidEncryptionProofError otherwise, or
   * with VerificationCancelledError when `signal` aborts before a worker has started it.
   */
  verify(
    statement: ProofStatement,
    first: number,
    wires: readonly Uint8Array[],
    proof: Uint8Array,
    signal?: AbortSignal,
  ): Promise<void> {
    if (signal?.aborted)
      return Promise.reject(new VerificationCancelledError('verification cancelled by its caller'));
    return new Promise<void>((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        statement,
        first,
        // Copies of just these bytes (gRPC's Buffers are views into larger pools), moved to the
        // worker, not cloned.
        wires: wires.map((wire) => new Uint8Array(wire)),
        proof: new Uint8Array(proof),
        signal,
        resolve,
        reject,
        dropIfAborted: () => {
          const at = this.queue.indexOf(job);
          if (at < 0) return;
          this.queue.splice(at, 1);
          reject(
            new VerificationCancelledError(
              `verification of ${wires.length} ciphertext(s) from ${first} dropped: its caller gave up`,
            ),
          );
        },
      };
      signal?.addEventListener('abort', job.dropIfAborted, { once: true });
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Starts queued jobs on idle, ready workers. */
  private dispatch(): void {
    const crashed = this.workers.find((slot) => slot.failed)?.failed;
    if (crashed && this.workers.every((slot) => slot.failed))
      for (const job of this.queue.splice(0)) job.reject(crashed);
    for (const slot of this.workers) {
      if (this.queue.length === 0) return;
      if (slot.running !== undefined || slot.failed) continue;
      const job = this.queue.shift()!;
      slot.running = job;
      void slot.ready.then(
        () => {
          if (slot.running !== job) return;
          const { id, statement, first, wires, proof } = job;
          slot.worker.postMessage({ id, statement, first, wires, proof }, [
            ...wires.map((wire) => wire.buffer),
            proof.buffer,
          ]);
        },
        (error: Error) => {
          if (slot.running !== job) return;
          slot.running = undefined;
          job.reject(error);
        },
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }
}
