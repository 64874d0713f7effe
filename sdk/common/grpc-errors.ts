import { status } from '@grpc/grpc-js';
import { SecAggError, type SecAggErrorCode } from '../../crypto/secagg/errors.ts';
import { CryptoInputError } from '../../crypto/validate.ts';
import { InvalidCiphertextError } from '../../crypto/ckks/ciphertext-wire.ts';
import { ContractError } from '../../ledger/contract.ts';
import { LedgerTamperedError } from '../../ledger/embedded/embedded-ledger.ts';
import { FabricLedgerError } from '../../ledger/fabric/fabric-errors.ts';

/**
 * The one place where failures become gRPC statuses. Handlers throw typed errors; the service
 * edge calls `toServiceError` and logs the result.
 */
export class RequestError extends Error {
  readonly code: status;
  constructor(code: status, message: string) {
    super(message);
    this.code = code;
    this.name = 'RequestError';
  }
}

export const invalidArgument = (message: string) =>
  new RequestError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string) => new RequestError(status.NOT_FOUND, message);
export const failedPrecondition = (message: string) =>
  new RequestError(status.FAILED_PRECONDITION, message);
export const permissionDenied = (message: string) =>
  new RequestError(status.PERMISSION_DENIED, message);
export const unauthenticated = (message: string) =>
  new RequestError(status.UNAUTHENTICATED, message);
export const alreadyExists = (message: string) => new RequestError(status.ALREADY_EXISTS, message);
export const aborted = (message: string) => new RequestError(status.ABORTED, message);
export const resourceExhausted = (message: string) =>
  new RequestError(status.RESOURCE_EXHAUSTED, message);
export const deadlineExceeded = (message: string) =>
  new RequestError(status.DEADLINE_EXCEEDED, message);
export const dataLoss = (message: string) => new RequestError(status.DATA_LOSS, message);

const SECAGG_STATUS: Record<SecAggErrorCode, status> = {
  'phase-order': status.FAILED_PRECONDITION,
  'unexpected-sender': status.PERMISSION_DENIED,
  'duplicate-message': status.ALREADY_EXISTS,
  'malformed-message': status.INVALID_ARGUMENT,
  'invalid-signature': status.UNAUTHENTICATED,
  'too-few-participants': status.ABORTED,
  'refused-reveal': status.FAILED_PRECONDITION,
  'ledger-mismatch': status.FAILED_PRECONDITION,
  'coordinator-tampering': status.FAILED_PRECONDITION,
  'reconstruction-failed': status.ABORTED,
  'invalid-config': status.INVALID_ARGUMENT,
};

const LEDGER_STATUS: Record<ContractError['kind'], status> = {
  'access-denied': status.PERMISSION_DENIED,
  'not-found': status.NOT_FOUND,
  conflict: status.FAILED_PRECONDITION,
  invalid: status.INVALID_ARGUMENT,
};

export interface ServiceErrorShape {
  code: status;
  details: string;
  message: string;
}

export function toServiceError(error: unknown): ServiceErrorShape {
  let code: status = status.INTERNAL;
  let details = 'internal error; see the service log';
  if (error instanceof RequestError) {
    code = error.code;
    details = error.message;
  } else if (error instanceof SecAggError) {
    code = SECAGG_STATUS[error.code];
    details = error.message;
  } else if (error instanceof ContractError) {
    code = LEDGER_STATUS[error.kind];
    details = `ledger: ${error.message}`;
  } else if (error instanceof LedgerTamperedError) {
    // Not the caller's fault and not to be retried: an operator must restore the ledger.
    code = status.DATA_LOSS;
    details = error.message;
  } else if (
    error instanceof FabricLedgerError &&
    (error.code === 'UNAVAILABLE' || error.code === 'DEADLINE_EXCEEDED')
  ) {
    // No peer of the ledger answered (every one was tried): the caller may retry later.
    code = status.UNAVAILABLE;
    details = `ledger unavailable: ${error.message}`;
  } else if (error instanceof CryptoInputError || error instanceof InvalidCiphertextError) {
    code = status.INVALID_ARGUMENT;
    details = error.message;
  }
  return { code, details, message: details };
}
