import { parentPort, workerData } from 'node:worker_threads';
import { proveEncryptions, type ProofStatement } from '../../crypto/ckks/encryption-proof.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { parameterSetNamed } from '../../crypto/ckks/parameters.ts';
import { systemRandom } from '../../crypto/random.ts';

/**
 * Worker side of CkksEncryptPool: one SEAL instance per thread. A request is one proof batch:
 * its ciphertexts are encrypted with explicit randomness and proved well formed together.
 */
interface EncryptRequest {
  readonly id: number;
  /** Values of ciphertexts [first, first + count), already sliced out of the update. */
  readonly values: Float32Array;
  readonly first: number;
  readonly count: number;
  readonly statement: ProofStatement;
}

const { setName, publicKey } = workerData as { setName: string; publicKey: Uint8Array };
const engine = await CkksEngine.create(parameterSetNamed(setName));
const key = engine.loadEncryptionKey(publicKey);
parentPort!.on('message', ({ id, values, first, count, statement }: EncryptRequest) => {
  try {
    const { wires, witnesses } = engine.encryptWithWitnesses(key, values, count, systemRandom);
    const proof = proveEncryptions(engine, key, statement, first, wires, witnesses, systemRandom);
    parentPort!.postMessage({ id, wires, proof }, [
      ...wires.map((wire) => wire.buffer as ArrayBuffer),
      proof.buffer as ArrayBuffer,
    ]);
  } catch (error) {
    parentPort!.postMessage({ id, error: String(error) });
  }
});
parentPort!.postMessage({ ready: true });
