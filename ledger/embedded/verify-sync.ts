import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from 'node:worker_threads';
import type { VerifyRequest, VerifyResponse } from './verify-worker.ts';

/**
 * Verifies a ledger file synchronously — opening a ledger is synchronous for its callers, but
 * the contract it replays is async — by running verify-worker.ts in a worker thread and
 * blocking on a shared flag until it answers.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const { port, signal, url, entry, request } = workerData;
import(url)
  .then((module) => module[entry](request, port, signal))
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

/**
 * A worker thread running `entry(request, port, signal)` of the module at `url`, whose answer
 * this thread waits for synchronously (`answer`). `port` also carries messages to the worker;
 * `signal` has room for `flags` more shared flags after the answer's.
 */
export interface SyncWorker<Response> {
  readonly port: MessagePort;
  readonly signal: Int32Array;
  answer(what: string): Response;
  stop(): void;
}

export function startSyncWorker<Request, Response>(
  url: URL,
  entry: string,
  request: Request,
  flags = 0,
): SyncWorker<Response> {
  const signal = new Int32Array(new SharedArrayBuffer(4 * (1 + flags)));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(BOOTSTRAP, {
    eval: true,
    workerData: { port: port2, signal, url: url.href, entry, request },
    transferList: [port2],
  });
  return {
    port: port1,
    signal,
    answer: (what) => {
      if (Atomics.wait(signal, 0, 0, WAIT_LIMIT_MS) === 'timed-out')
        throw new Error(`${what} took longer than ${WAIT_LIMIT_MS} ms`);
      const message = receiveMessageOnPort(port1)?.message as
        { response: Response } | { error: string } | undefined;
      if (message === undefined) throw new Error(`${what} gave no answer`);
      if ('error' in message) throw new Error(`${what} failed: ${message.error}`);
      return message.response;
    },
    stop: () => {
      port1.close();
      void worker.terminate();
    },
  };
}

export function verifyInWorker(request: VerifyRequest): VerifyResponse {
  const worker = startSyncWorker<VerifyRequest, VerifyResponse>(
    new URL('./verify-worker.ts', import.meta.url),
    'run',
    request,
  );
  try {
    return worker.answer(`verifying the ledger ${request.path}`);
  } finally {
    worker.stop();
  }
}
