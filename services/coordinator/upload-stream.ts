import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { callerOrganisation } from '../common/caller.ts';
import {
  deadlineExceeded,
  invalidArgument,
  resourceExhausted,
} from '../../sdk/common/grpc-errors.ts';
import type { UploadLimits, UploadTicket } from './upload-limits.ts';

/** Suffix of an upload being staged; any such file found at start-up is an orphan. */
export const PARTIAL_SUFFIX = '.partial';

/** What one kind of upload stream does with its header, its data and its end. */
export interface UploadHandlers<Chunk, Reply> {
  /**
   * When `chunk` is the header (after checking the caller may upload): the round it uploads to
   * and the folder the upload is staged in. Undefined for a data chunk.
   */
  header(chunk: Chunk): { roundId: string; directory: string } | undefined;
  /**
   * Checks one data chunk and returns the bytes to store. `hold(n)` counts n more bytes the
   * handler keeps in memory (not in the file) against the same limits as staged bytes.
   */
  data(chunk: Chunk, hold: (bytes: number) => void): Uint8Array;
  /** The complete stream, staged in `temporaryPath`, with the SHA-256 of its data. */
  finish(temporaryPath: string, sha256: Uint8Array, bytes: number): Promise<Reply>;
  /**
   * The client went away (the call was cancelled or broke) before its stream ended and before it
   * was answered: work started for it can be dropped. Never called once the stream has ended
   * (`finish` owns it then: a client leaving does not stop a commit) or been answered (the
   * answer's error says why).
   */
  abandoned?(): void;
}

/**
 * Receives a client-streaming upload (one header, then data) into a temporary file, hashing as it
 * goes, so memory stays O(chunk) for the stream itself. The stream holds a ticket from `limits`
 * from its first message to its answer (streams and staged bytes per member and in all), and is
 * cut when it sends nothing for `idleMs`, when it has been open `totalMs`, or when its round stops
 * taking uploads. Any error — raised by a handler, a limit, a cancelled call or a broken stream —
 * answers the call once and removes the temporary file: nothing of a refused upload remains.
 * `finish` owns the file from then on (it commits or keeps it).
 */
export function receiveUploadStream<Chunk, Reply>(
  call: grpc.ServerReadableStream<Chunk, Reply>,
  limits: UploadLimits,
  handlers: UploadHandlers<Chunk, Reply>,
  answer: (error: unknown, reply?: Reply) => void,
): void {
  let file: number | undefined;
  let temporaryPath = '';
  let received = 0;
  let settled = false;
  let finishing = false;
  let ticket: UploadTicket | undefined;
  const hash = createHash('sha256');
  const { idleMs, totalMs } = limits.settings;
  const cleanUp = () => {
    clearTimeout(idleTimer);
    clearTimeout(totalTimer);
    if (file !== undefined) closeSync(file);
    file = undefined;
    if (temporaryPath) rmSync(temporaryPath, { force: true });
    ticket?.release();
  };
  const reject = (error: unknown) => {
    if (settled) return;
    settled = true;
    cleanUp();
    answer(error);
  };
  const cut = (error: unknown) => {
    // A stream being committed is left to `finish`: it checks again that the round takes it.
    if (!finishing) reject(error);
  };
  const idle = () =>
    setTimeout(
      () => cut(deadlineExceeded(`the upload sent nothing for ${idleMs} ms and was cut`)),
      idleMs,
    ).unref();
  let idleTimer = idle();
  const totalTimer = setTimeout(
    () => cut(deadlineExceeded(`the upload was still open after ${totalMs} ms and was cut`)),
    totalMs,
  ).unref();

  try {
    ticket = limits.admit(callerOrganisation(call));
  } catch (error) {
    reject(error);
  }
  call.on('data', (chunk: Chunk) => {
    if (settled) return;
    clearTimeout(idleTimer);
    idleTimer = idle();
    try {
      const header = handlers.header(chunk);
      if (header !== undefined) {
        if (file !== undefined) throw invalidArgument('the upload stream carries a second header');
        ticket!.joinRound(header.roundId, cut);
        temporaryPath = join(
          header.directory,
          `upload.${randomBytes(6).toString('hex')}${PARTIAL_SUFFIX}`,
        );
        file = openSync(temporaryPath, 'wx', 0o600);
        return;
      }
      if (file === undefined) throw invalidArgument('the upload stream must start with a header');
      const data = handlers.data(chunk, (bytes) => ticket!.stage(bytes));
      ticket!.stage(data.length);
      writeSync(file, data);
      hash.update(data);
      received += data.length;
    } catch (error) {
      reject(outOfResources(error));
    }
  });
  call.on('end', () => {
    if (settled) return;
    if (file === undefined) {
      reject(invalidArgument('empty upload stream: send a header and the data'));
      return;
    }
    clearTimeout(idleTimer);
    finishing = true;
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
        cleanUp();
        answer(null, reply);
      })
      .catch((error: unknown) => reject(outOfResources(error)));
  });
  // A client that goes away while its upload is being committed does not stop the commit: the
  // file is the round's from then on (its retry finds the upload already accepted).
  const gone = () => {
    if (finishing) return;
    if (!settled) handlers.abandoned?.();
    settled = true;
    cleanUp();
  };
  call.on('cancelled', gone);
  call.on('error', gone);
}

/** Running out of descriptors or disk is the coordinator's state, not a fault of the upload. */
function outOfResources(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EMFILE' || code === 'ENFILE')
    return resourceExhausted('the coordinator has no file descriptors free; retry shortly');
  if (code === 'ENOSPC') return resourceExhausted('the coordinator has no disk space free');
  return error;
}
