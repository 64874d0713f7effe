import { status, type ServiceError } from '@grpc/grpc-js';

/** A call failed in a way retrying cannot fix; `step` says which step of the protocol. */
export class VeilsumError extends Error {
  readonly code: status;
  readonly step: string;
  /** The message without the step and status around it. */
  readonly detail: string;
  constructor(step: string, code: status, message: string) {
    super(`${step}: ${message} (${status[code]})`);
    this.name = 'VeilsumError';
    this.code = code;
    this.step = step;
    this.detail = message;
  }
}

/** The round was aborted by the coordinator (too few participants, failed reconstruction). */
export class RoundAbortedError extends VeilsumError {
  constructor(step: string, message: string) {
    super(step, status.ABORTED, message);
    this.name = 'RoundAbortedError';
  }
}

export const TRANSIENT_CODES: ReadonlySet<status> = new Set([
  status.UNAVAILABLE,
  status.RESOURCE_EXHAUSTED,
]);

export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as ServiceError).code === 'number';
}

export function toVeilsumError(step: string, error: unknown): VeilsumError {
  if (error instanceof VeilsumError) return error;
  if (isServiceError(error)) {
    const details = error.details || error.message;
    return error.code === status.ABORTED
      ? new RoundAbortedError(step, details)
      : new VeilsumError(step, error.code, details);
  }
  return new VeilsumError(step, status.UNKNOWN, (error as Error)?.message ?? String(error));
}
