import { parentPort, workerData } from 'node:worker_threads';
import { proveEncryptions } from '../../crypto/ckks/encryption-proof.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { parameterSetNamed } from '../../crypto/ckks/parameters.ts';
import { systemRandom } from '../../crypto/random.ts';
import type { EncryptTask } from './ckks-encrypt-pool.ts';

/**
 * Worker side of CkksEncryptPool: one SEAL instance per thread. It encrypts ciphertexts with
 * explicit randomness (returning their witnesses), or proves a whole proof batch well formed.
 */
const { setName, publicKey } = workerData as { setName: string; publicKey: Uint8Array };
const engine = await CkksEngine.create(parameterSetNamed(setName));
const key = engine.loadEncryptionKey(publicKey);
parentPort!.on('message', ({ id, task }: { id: number; task: EncryptTask }) => {
  try {
    if (task.kind === 'encrypt') {
      const { wires, witnesses } = engine.encryptWithWitnesses(
        key,
        task.values,
        task.count,
        systemRandom,
      );
      parentPort!.postMessage({ id, result: { wires, witnesses } }, [
        ...wires.map((wire) => wire.buffer as ArrayBuffer),
        ...witnesses.flatMap(({ v, e1 }) => [v.buffer as ArrayBuffer, e1.buffer as ArrayBuffer]),
      ]);
    } else {
      const { statement, first, wires, witnesses } = task;
      const proof = proveEncryptions(engine, key, statement, first, wires, witnesses, systemRandom);
      parentPort!.postMessage({ id, result: proof }, [proof.buffer as ArrayBuffer]);
    }
  } catch (error) {
    parentPort!.postMessage({ id, error: String(error) });
  }
});
parentPort!.postMessage({ ready: true });
