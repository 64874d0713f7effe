import { parentPort, workerData } from 'node:worker_threads';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { parameterSetNamed } from '../../crypto/ckks/parameters.ts';

/** Worker side of CkksEncryptPool: one SEAL instance and encryptor per thread. */
interface EncryptRequest {
  readonly id: number;
  /** Values of ciphertexts [first, first + count), already sliced out of the update. */
  readonly values: Float32Array;
  readonly count: number;
}

const { setName, publicKey } = workerData as { setName: string; publicKey: Uint8Array };
const engine = await CkksEngine.create(parameterSetNamed(setName));
const encryptor = engine.encryptor(publicKey);
parentPort!.on('message', ({ id, values, count }: EncryptRequest) => {
  try {
    const wires = engine.encryptChunks(encryptor, values, 0, count);
    parentPort!.postMessage(
      { id, wires },
      wires.map((wire) => wire.buffer as ArrayBuffer),
    );
  } catch (error) {
    parentPort!.postMessage({ id, error: String(error) });
  }
});
parentPort!.postMessage({ ready: true });
