import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  InvalidEncryptionProofError,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';

/**
 * Verifies encryption proofs on worker threads (`verifyEncryptionProof`, one SEAL instance per
 * thread), so a coordinator keeps receiving and adding uploads while batches are checked and
 * uses every core for the checks. Requests go to the least busy worker.
 */
export class CkksVerifyPool {
  private readonly workers: { worker: Worker; ready: Promise<void>; busy: number }[];
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: () => void; reject: (error: Error) => void; first: number; count: number }
  >();

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
      const entry = { worker, ready, busy: 0 };
      worker.on('message', (message: { id?: number; verified?: boolean; error?: string }) => {
        if (message.id === undefined) return;
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        entry.busy--;
        if (!waiter) return;
        // Verified only when the worker says so: any other answer is a refusal.
        if (message.verified === true) waiter.resolve();
        else
          waiter.reject(
            new InvalidEncryptionProofError(
              message.error ?? 'the verifier gave no answer',
              waiter.first,
              waiter.count,
            ),
          );
      });
      // A crashed worker fails what it was asked rather than leaving it waiting forever.
      worker.on('error', (error: Error) => {
        for (const { reject } of this.pending.values()) reject(error);
        this.pending.clear();
      });
      return entry;
    });
  }

  /** Resolves when the proof verifies; rejects with InvalidEncryptionProofError otherwise. */
  async verify(
    statement: ProofStatement,
    first: number,
    wires: readonly Uint8Array[],
    proof: Uint8Array,
  ): Promise<void> {
    const entry = this.workers.reduce((best, next) => (next.busy < best.busy ? next : best));
    entry.busy++;
    await entry.ready;
    const id = this.nextId++;
    const result = new Promise<void>((resolve, reject) =>
      this.pending.set(id, { resolve, reject, first, count: wires.length }),
    );
    // Copies of just these bytes (gRPC's Buffers are views into larger pools), moved, not cloned.
    const copies = wires.map((wire) => new Uint8Array(wire));
    const proofCopy = new Uint8Array(proof);
    entry.worker.postMessage({ id, statement, first, wires: copies, proof: proofCopy }, [
      ...copies.map((copy) => copy.buffer),
      proofCopy.buffer,
    ]);
    return result;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }
}
