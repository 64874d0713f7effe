import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ciphertextsFor, parameterSetNamed, slotCount } from '../../crypto/ckks/parameters.ts';

/**
 * Encrypts an update on worker threads, one SEAL instance per thread (SEAL's WebAssembly build
 * is single-threaded). Ciphertexts come back in order, in batches, while later batches are still
 * being encrypted, so an upload can stream from the first batch on.
 */
export class CkksEncryptPool {
  private readonly workers: Worker[];
  private readonly slots: number;
  private readonly setName: string;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (wires: Uint8Array[]) => void; reject: (error: Error) => void }
  >();

  private constructor(setName: string, workers: Worker[]) {
    this.setName = setName;
    this.slots = slotCount(parameterSetNamed(setName));
    this.workers = workers;
    for (const worker of workers) {
      worker.on('message', (message: { id: number; wires?: Uint8Array[]; error?: string }) => {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.wires) waiter?.resolve(message.wires);
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

  /** Ciphertexts of `values`, in order, `batch` at a time; at most 2 batches per worker in flight. */
  async *encrypt(values: Float32Array, batch = 8): AsyncGenerator<Uint8Array[]> {
    const total = ciphertextsFor(parameterSetNamed(this.setName), values.length);
    const inFlight: Promise<Uint8Array[]>[] = [];
    let next = 0;
    let turn = 0;
    const dispatch = () => {
      const count = Math.min(batch, total - next);
      const id = this.nextId++;
      const result = new Promise<Uint8Array[]>((resolve, reject) =>
        this.pending.set(id, { resolve, reject }),
      );
      const slice = values.slice(next * this.slots, (next + count) * this.slots);
      this.workers[turn++ % this.workers.length]!.postMessage({ id, values: slice, count }, [
        slice.buffer,
      ]);
      next += count;
      // Awaited in order below; until then a failure must not count as unhandled.
      result.catch(() => undefined);
      inFlight.push(result);
    };
    while (next < total && inFlight.length < 2 * this.workers.length) dispatch();
    while (inFlight.length > 0) {
      const done = await inFlight.shift()!;
      if (next < total) dispatch();
      yield done;
    }
  }

  async encryptAll(values: Float32Array): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for await (const batch of this.encrypt(values)) out.push(...batch);
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
