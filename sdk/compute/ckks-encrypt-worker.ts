import { parentPort, workerData } from 'node:worker_threads';
import { EncryptionProver } from '../../crypto/ckks/encryption-proof.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { parameterSetNamed } from '../../crypto/ckks/parameters.ts';
import { systemRandom } from '../../crypto/random.ts';
import type { EncryptTask } from './ckks-encrypt-pool.ts';

/**
 * Worker side of CkksEncryptPool: one SEAL instance per thread. It encrypts ciphertexts with
 * explicit randomness (returning their witnesses), or runs attempts of a proof batch's prover
 * (every worker holds the batch's prover; the pool keeps the first accepted proof).
 */
const { setName, publicKey } = workerData as { setName: string; publicKey: Uint8Array };
const engine = await CkksEngine.create(parameterSetNamed(setName));
const key = engine.loadEncryptionKey(publicKey);
const provers = new Map<number, EncryptionProver>();
parentPort!.on('message', ({ id, task }: { id: number; task: EncryptTask }) => {
  try {
    if (task.kind === 'encrypt') {
      const { wires, witnesses } = engine.encryptWithWitnesses(
        key,
        task.values,
        task.count,
        systemRandom,
        // c0 rounded (ciphertext-wire.ts, `CompactC0`) where the parameters allow it.
        { compact: engine.expectations.compactC0 !== undefined },
      );
      parentPort!.postMessage({ id, result: { wires, witnesses } }, [
        ...wires.map((wire) => wire.buffer as ArrayBuffer),
        ...witnesses.flatMap(({ v, e1 }) => [v.buffer as ArrayBuffer, e1.buffer as ArrayBuffer]),
      ]);
    } else if (task.kind === 'prover') {
      const { prover, statement, first, wires, witnesses } = task;
      provers.set(prover, new EncryptionProver(engine, key, statement, first, wires, witnesses));
      parentPort!.postMessage({ id, result: null });
    } else if (task.kind === 'attempt') {
      const proof = provers.get(task.prover)?.attempt(systemRandom) ?? null;
      parentPort!.postMessage({ id, result: proof }, proof ? [proof.buffer as ArrayBuffer] : []);
    } else {
      provers.delete(task.prover);
      parentPort!.postMessage({ id, result: null });
    }
  } catch (error) {
    parentPort!.postMessage({ id, error: String(error) });
  }
});
parentPort!.postMessage({ ready: true });
