import { parentPort, workerData } from 'node:worker_threads';
import { verifyEncryptionProof, type ProofStatement } from '../../crypto/ckks/encryption-proof.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { parameterSetNamed } from '../../crypto/ckks/parameters.ts';

/** Worker side of CkksVerifyPool: one SEAL instance and the loaded key per thread. */
interface VerifyRequest {
  readonly id: number;
  readonly statement: ProofStatement;
  readonly first: number;
  readonly wires: Uint8Array[];
  readonly proof: Uint8Array;
}

const { setName, publicKey } = workerData as { setName: string; publicKey: Uint8Array };
const engine = await CkksEngine.create(parameterSetNamed(setName));
const key = engine.loadEncryptionKey(publicKey);
parentPort!.on('message', ({ id, statement, first, wires, proof }: VerifyRequest) => {
  try {
    verifyEncryptionProof(engine, key, statement, first, wires, proof);
    parentPort!.postMessage({ id, verified: true });
  } catch (error) {
    // Whatever was thrown, the answer is a refusal with a message (never "no error").
    const message = (error as { message?: unknown } | undefined)?.message;
    parentPort!.postMessage({
      id,
      error: typeof message === 'string' && message !== '' ? message : String(error),
    });
  }
});
parentPort!.postMessage({ ready: true });
