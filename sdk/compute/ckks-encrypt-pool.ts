import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  EncryptionProver,
  MAX_PROOF_ATTEMPTS,
  proofBatches,
  type ProofStatement,
} from '../../crypto/ckks/encryption-proof.ts';
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
      /** Holds a proof batch's prover under the id `prover`. */
      readonly kind: 'prover';
      readonly prover: number;
      readonly statement: ProofStatement;
      readonly first: number;
      readonly wires: Uint8Array[];
      readonly witnesses: EncryptionWitness[];
    }
  /** One attempt of prover `prover`: the proof, or null when rejected. */
  | { readonly kind: 'attempt'; readonly prover: number }
  /** Drops prover `prover`. */
  | { readonly kind: 'drop'; readonly prover: number };

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
  private nextProver = 0;
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
      const proof = await this.prove(statement, first, wires, witnesses);
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

  /**
   * One batch's proof, its prover's attempts run on every worker at once: each worker holds the
   * batch (copies: the caller keeps its ciphertexts) and runs attempts until one is accepted
   * anywhere (EncryptionProver says why keeping the first accepted proof is sound). About 2.24
   * attempts are needed on average, so two workers roughly halve the proof's wall time.
   */
  private async prove(
    statement: ProofStatement,
    first: number,
    wires: Uint8Array[],
    witnesses: EncryptionWitness[],
  ): Promise<Uint8Array> {
    const prover = this.nextProver++;
    const workers = this.workers.map((_, w) => w);
    await Promise.all(
      workers.map((w) =>
        this.runOn<null>(w, { kind: 'prover', prover, statement, first, wires, witnesses }, []),
      ),
    );
    let attempts = 0;
    let proof: Uint8Array | undefined;
    const attemptOn = async (w: number): Promise<void> => {
      while (proof === undefined && attempts < MAX_PROOF_ATTEMPTS) {
        attempts++;
        const result = await this.runOn<Uint8Array | null>(w, { kind: 'attempt', prover }, []);
        if (result && proof === undefined) proof = result;
      }
    };
    try {
      // Settles once a proof is accepted (other workers' attempts in flight are discarded
      // unread), or once every worker has stopped at the attempt limit.
      await new Promise<void>((resolve, reject) => {
        let running = workers.length;
        for (const w of workers)
          attemptOn(w).then(() => {
            if (proof !== undefined || --running === 0) resolve();
          }, reject);
      });
    } finally {
      for (const w of workers) void this.runOn(w, { kind: 'drop', prover }, []).catch(() => {});
    }
    if (proof === undefined)
      throw new Error(`encryption failed: ${EncryptionProver.tooManyRejections}`);
    return proof;
  }

  private run<T = Encrypted>(task: EncryptTask, transfer: ArrayBuffer[]): Promise<T> {
    return this.runOn<T>(this.turn++ % this.workers.length, task, transfer);
  }

  private runOn<T>(worker: number, task: EncryptTask, transfer: ArrayBuffer[]): Promise<T> {
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) =>
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject }),
    );
    this.workers[worker]!.postMessage({ id, task }, transfer);
    return result;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
