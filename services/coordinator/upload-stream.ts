import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { invalidArgument } from '../common/grpc-errors.ts';

/** What one kind of upload stream does with its header, its data and its end. */
export interface UploadHandlers<Chunk, Reply> {
  /**
   * Returns the folder the upload is staged in when `chunk` is the header (after checking the
   * caller may upload), or undefined for a data chunk.
   */
  header(chunk: Chunk): string | undefined;
  /** Checks one data chunk and returns the bytes to store. */
  data(chunk: Chunk): Uint8Array;
  /** The complete stream, staged in `temporaryPath`, with the SHA-256 of its data. */
  finish(temporaryPath: string, sha256: Uint8Array, bytes: number): Promise<Reply>;
}

/**
 * Receives a client-streaming upload (one header, then data) into a temporary file, hashing as it
 * goes, so memory stays O(chunk) for the stream itself. Any error — raised by a handler, a
 * cancelled call or a broken stream — answers the call once and removes the temporary file:
 * nothing of a refused upload remains. `finish` owns the file from then on (it commits or keeps it).
 */
export function receiveUploadStream<Chunk, Reply>(
  call: grpc.ServerReadableStream<Chunk, Reply>,
  handlers: UploadHandlers<Chunk, Reply>,
  answer: (error: unknown, reply?: Reply) => void,
): void {
  let file: number | undefined;
  let temporaryPath = '';
  let received = 0;
  let settled = false;
  const hash = createHash('sha256');
  const cleanUp = () => {
    if (file !== undefined) closeSync(file);
    file = undefined;
    if (temporaryPath) rmSync(temporaryPath, { force: true });
  };
  const reject = (error: unknown) => {
    if (settled) return;
    settled = true;
    cleanUp();
    answer(error);
  };
  call.on('data', (chunk: Chunk) => {
    if (settled) return;
    try {
      const directory = handlers.header(chunk);
      if (directory !== undefined) {
        if (file !== undefined) throw invalidArgument('the upload stream carries a second header');
        temporaryPath = join(directory, `upload.${randomBytes(6).toString('hex')}.partial`);
        file = openSync(temporaryPath, 'wx', 0o600);
        return;
      }
      if (file === undefined) throw invalidArgument('the upload stream must start with a header');
      const data = handlers.data(chunk);
      writeSync(file, data);
      hash.update(data);
      received += data.length;
    } catch (error) {
      reject(error);
    }
  });
  call.on('end', () => {
    if (settled) return;
    if (file === undefined) {
      reject(invalidArgument('empty upload stream: send a header and the data'));
      return;
    }
    closeSync(file);
    file = undefined;
    const digest = new Uint8Array(hash.digest());
    // A handler may throw synchronously or reject: both refuse the upload.
    Promise.resolve()
      .then(() => handlers.finish(temporaryPath, digest, received))
      .then((reply) => {
        if (settled) return;
        settled = true;
        temporaryPath = '';
        answer(null, reply);
      })
      .catch(reject);
  });
  call.on('cancelled', () => {
    settled = true;
    cleanUp();
  });
  call.on('error', () => {
    settled = true;
    cleanUp();
  });
}
