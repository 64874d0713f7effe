import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { proofBatches, type ProofStatement } from '../../crypto/ckks/encryption-proof.ts';
import type { EncryptionWitness } from '../../crypto/ckks/engine.ts';
import {
  ciphertextsFor,
  parameterSetNamed,
  valuesPerCiphertext,
} from '../../crypto/ckks/parameters.ts';

/** What a worker is asked (ckks-encrypt-worker.ts). */
export type EncryptTask =
  | {
      readonly kind: 'encrypt';
      /** Values of `count` ciphertexts, already sliced out of the update. */
      readonly values: Float32Array;
      readonly count: number;
    }
  | {
      readonly kind: 'prove';
      readonly statement: ProofStatement;
      readonly first: number;
      readonly wires: Uint8Array[];
      readonly witnesses: EncryptionWitness[];
    };

type Encrypted = { wires: Uint8Array[]; witnesses: EncryptionWitness[] };

/**
 * Encrypts and proves an update on worker threads, one SEAL instance per thread (SEAL's
 * WebAssembly build is single-threaded). The update is cut into proof batches of at most
 * PROOF.maxBatch ciphertexts (`proofBatches`, the cut verifiers expect); each batch's ciphertexts
 * are encrypted on every worker at once and its one proof is made on one of them. One proof per
 * 128 ciphertexts rather than one per worker: a proof's cost is mostly fixed (its 32 commitments),
 * for the prover and for every verifier (the coordinator and each keyholder), and so are its bytes.
 */
export class CkksEncryptPool {
  private readonly workers: Worker[];
  private readonly valuesPerCiphertext: number;
  private readonly setName: string;
  private nextId = 0;
  private turn = 0;
  private readonly pending = new Map<
    number,
    { resolve: (result: unknown) => void; reject: (error: Error) => void }
  >();

  private constructor(setName: string, workers: Worker[]) {
    this.setName = setName;
    this.valuesPerCiphertext = valuesPerCiphertext(parameterSetNamed(setName));
    this.workers = workers;
    for (const worker of workers) {
      worker.on('message', (message: { id: number; result?: unknown; error?: string }) => {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error === undefined) waiter?.resolve(message.result);
        else waiter?.reject(new Error(`encryption failed: ${message.error}`));
      });
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

  /**
   * The ciphertexts of `values` and one proof per batch of `proofBatches`; `statement` names the
   * upload the proofs are bound to (its totalCiphertexts must be the update's).
   */
  async encryptAll(
    values: Float32Array,
    statement: ProofStatement,
  ): Promise<{ wires: Uint8Array[]; proofs: Uint8Array[] }> {
    const total = ciphertextsFor(parameterSetNamed(this.setName), values.length);
    if (statement.totalCiphertexts !== total)
      throw new RangeError(`an update of ${values.length} values is ${total} ciphertexts`);
    // Every batch's encryptions are queued at once (workers take them in order); a batch's proof
    // is queued when its ciphertexts are back, behind the next batch's encryptions.
    const batches = proofBatches(total).map(async ({ first, count }) => {
      const share = Math.ceil(count / this.workers.length);
      const parts: Promise<Encrypted>[] = [];
      for (let start = first; start < first + count; start += share) {
        const partCount = Math.min(share, first + count - start);
        const slice = values.slice(
          start * this.valuesPerCiphertext,
          Math.min(values.length, (start + partCount) * this.valuesPerCiphertext),
        );
        parts.push(this.run({ kind: 'encrypt', values: slice, count: partCount }, [slice.buffer]));
      }
      const done = await Promise.all(parts);
      const wires = done.flatMap((part) => part.wires);
      const witnesses = done.flatMap((part) => part.witnesses);
      // The prover hashes the ciphertexts into its statement: it gets copies, the caller keeps these.
      const copies = wires.map((wire) => new Uint8Array(wire));
      const proof = await this.run<Uint8Array>(
        { kind: 'prove', statement, first, wires: copies, witnesses },
        [
          ...copies.map((copy) => copy.buffer),
          ...witnesses.flatMap(({ v, e1 }) => [v.buffer as ArrayBuffer, e1.buffer as ArrayBuffer]),
        ],
      );
      return { wires, proof };
    });
    // Awaited in order below; until then a failure must not count as unhandled.
    for (const batch of batches) batch.catch(() => undefined);
    const wires: Uint8Array[] = [];
    const proofs: Uint8Array[] = [];
    for (const batch of batches) {
      const done = await batch;
      wires.push(...done.wires);
      proofs.push(done.proof);
    }
    return { wires, proofs };
  }

  private run<T = Encrypted>(task: EncryptTask, transfer: ArrayBuffer[]): Promise<T> {
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) =>
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject }),
    );
    this.workers[this.turn++ % this.workers.length]!.postMessage({ id, task }, transfer);
    return result;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
