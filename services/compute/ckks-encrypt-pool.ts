import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ProofStatement } from '../../crypto/ckks/encryption-proof.ts';
import {
  ciphertextsFor,
  parameterSetNamed,
  PROOF,
  valuesPerCiphertext,
} from '../../crypto/ckks/parameters.ts';

/** Ciphertexts [first, first + wires.length) of an update and the proof that they are well formed. */
export interface EncryptedBatch {
  readonly first: number;
  readonly wires: Uint8Array[];
  readonly proof: Uint8Array;
}

/**
 * Encrypts and proves an update on worker threads, one SEAL instance per thread (SEAL's
 * WebAssembly build is single-threaded). The update is cut into proof batches (at most
 * PROOF.maxBatch ciphertexts, and as even as the workers allow); batches come back in order
 * while later ones are still being computed, so an upload can stream from the first batch on.
 */
export class CkksEncryptPool {
  private readonly workers: Worker[];
  private readonly valuesPerCiphertext: number;
  private readonly setName: string;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (batch: EncryptedBatch) => void; reject: (error: Error) => void }
  >();

  private constructor(setName: string, workers: Worker[]) {
    this.setName = setName;
    this.valuesPerCiphertext = valuesPerCiphertext(parameterSetNamed(setName));
    this.workers = workers;
    for (const worker of workers) {
      worker.on(
        'message',
        (message: { id: number; wires?: Uint8Array[]; proof?: Uint8Array; error?: string }) => {
          const waiter = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.wires && message.proof)
            waiter?.resolve({ first: -1, wires: message.wires, proof: message.proof });
          else waiter?.reject(new Error(`encryption failed: ${message.error}`));
        },
      );
      worker.on('error', (error: Error) => {
        for (const { reject } of this.pending.values()) reject(error);
        this.pending.clear();
      });
    }
  }

  static async create(
    setName: string,
    publicKey: Uint8Array,
    size: number = availableParallelism(),
  ): Promise<CkksEncryptPool> {
    parameterSetNamed(setName);
    const workers = await Promise.all(
      Array.from({ length: Math.max(1, size) }, async () => {
        const worker = new Worker(new URL('./ckks-encrypt-worker.ts', import.meta.url), {
          workerData: { setName, publicKey },
        });
        await new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
        });
        return worker;
      }),
    );
    return new CkksEncryptPool(setName, workers);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Proof batch size for an update of `total` ciphertexts on this pool. */
  batchSize(total: number): number {
    return Math.min(PROOF.maxBatch, Math.ceil(total / this.workers.length));
  }

  /**
   * Encrypted, proved batches of `values` in order; `statement` names the upload the proofs
   * are bound to (its totalCiphertexts must be the update's).
   */
  async *encrypt(values: Float32Array, statement: ProofStatement): AsyncGenerator<EncryptedBatch> {
    const total = ciphertextsFor(parameterSetNamed(this.setName), values.length);
    if (statement.totalCiphertexts !== total)
      throw new RangeError(`an update of ${values.length} values is ${total} ciphertexts`);
    const batch = this.batchSize(total);
    const inFlight: Promise<EncryptedBatch>[] = [];
    let next = 0;
    let turn = 0;
    const dispatch = () => {
      const first = next;
      const count = Math.min(batch, total - first);
      const id = this.nextId++;
      const result = new Promise<EncryptedBatch>((resolve, reject) =>
        this.pending.set(id, {
          resolve: (done) => resolve({ ...done, first }),
          reject,
        }),
      );
      const slice = values.slice(
        first * this.valuesPerCiphertext,
        (first + count) * this.valuesPerCiphertext,
      );
      this.workers[turn++ % this.workers.length]!.postMessage(
        { id, values: slice, first, count, statement },
        [slice.buffer],
      );
      next += count;
      // Awaited in order below; until then a failure must not count as unhandled.
      result.catch(() => undefined);
      inFlight.push(result);
    };
    while (next < total && inFlight.length < this.workers.length) dispatch();
    while (inFlight.length > 0) {
      const done = await inFlight.shift()!;
      if (next < total) dispatch();
      yield done;
    }
  }

  async encryptAll(
    values: Float32Array,
    statement: ProofStatement,
  ): Promise<{ wires: Uint8Array[]; proofs: Uint8Array[] }> {
    const wires: Uint8Array[] = [];
    const proofs: Uint8Array[] = [];
    for await (const batch of this.encrypt(values, statement)) {
      wires.push(...batch.wires);
      proofs.push(batch.proof);
    }
    return { wires, proofs };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
