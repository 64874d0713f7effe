import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { VerifyRequest, VerifyResponse } from './verify-worker.ts';

/**
 * Verifies a ledger file synchronously — opening a ledger is synchronous for its callers, but
 * the contract it replays is async — by running verify-worker.ts in a worker thread and
 * blocking on a shared flag until it answers.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const { port, signal, url, request } = workerData;
import(url)
  .then((module) => module.run(request))
  .then(
    (response) => port.postMessage({ response }),
    (error) => port.postMessage({ error: String((error && error.stack) || error) }),
  )
  .finally(() => {
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  });
`;

const WAIT_LIMIT_MS = 30 * 60_000;

export function verifyInWorker(request: VerifyRequest): VerifyResponse {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(BOOTSTRAP, {
    eval: true,
    workerData: {
      port: port2,
      signal,
      url: new URL('./verify-worker.ts', import.meta.url).href,
      request,
    },
    transferList: [port2],
  });
  try {
    if (Atomics.wait(signal, 0, 0, WAIT_LIMIT_MS) === 'timed-out')
      throw new Error(`verifying the ledger ${request.path} took longer than ${WAIT_LIMIT_MS} ms`);
    const message = receiveMessageOnPort(port1)?.message as
      { response: VerifyResponse } | { error: string } | undefined;
    if (message === undefined)
      throw new Error(`verifying the ledger ${request.path} gave no answer`);
    if ('error' in message)
      throw new Error(`verifying the ledger ${request.path} failed: ${message.error}`);
    return message.response;
  } finally {
    port1.close();
    void worker.terminate();
  }
}
