import { status as GrpcStatus } from '@grpc/grpc-js';
import { CommitError, GatewayError } from '@hyperledger/fabric-gateway';
import { peer } from '@hyperledger/fabric-protos';
import { ContractError } from '../contract.ts';

/**
 * Turns what the Fabric Gateway throws back into the errors the embedded ledger throws. The
 * chaincode reports a ContractError as `[kind] message` (chaincode/veilsum-contract.ts); the
 * Gateway puts that text in `details[]` of a failed endorsement (submit) and in the message of a
 * failed evaluate. Failures that are not the contract's — the network, an invalidated commit —
 * become a FabricLedgerError naming the step that failed.
 */
export type FabricStep = 'evaluate' | 'endorse' | 'submit' | 'commit' | 'connect';

export class FabricLedgerError extends Error {
  readonly step: FabricStep;
  /** gRPC status (evaluate/endorse/submit) or transaction validation code name (commit). */
  readonly code: string;
  constructor(step: FabricStep, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FabricLedgerError';
    this.step = step;
    this.code = code;
  }
}

const KIND = /\[(access-denied|not-found|conflict|invalid)\] ([^\n]*)/;
const UNKNOWN_FUNCTION = /function that does not exist: (\S+)/;

/** The contract's error in a chaincode response text, if there is one. */
export function contractErrorIn(text: string): ContractError | undefined {
  const match = KIND.exec(text);
  if (match) return new ContractError(match[1] as ContractError['kind'], match[2]!.trim());
  const unknown = UNKNOWN_FUNCTION.exec(text);
  if (unknown) {
    // fabric-contract-api's unknownTransaction: same wording as the embedded ledger.
    const name = unknown[1]!.replace(/^veilsum:/, '');
    return new ContractError('invalid', `unknown contract function ${name}`);
  }
  return undefined;
}

/** Validation codes that mean "another transaction changed what this one read": retry. */
export const RETRIABLE_COMMIT_CODES = new Set(['MVCC_READ_CONFLICT', 'PHANTOM_READ_CONFLICT']);

export function toLedgerError(error: unknown, step: FabricStep, fn: string): Error {
  if (error instanceof ContractError || error instanceof FabricLedgerError) return error;
  if (error instanceof GatewayError) {
    const texts = [error.message, ...error.details.map((detail) => detail.message)];
    for (const text of texts) {
      const contractError = contractErrorIn(text);
      if (contractError) return contractError;
    }
    const code = GrpcStatus[error.code] ?? String(error.code);
    const where = error.details.map((d) => `${d.mspId}@${d.address}: ${d.message}`).join('; ');
    // The peer refused the caller's identity itself (certificate not issued by the claimed
    // MSP, not a channel member): the same refusal the contract gives, one layer down.
    if (
      error.code === (GrpcStatus.PERMISSION_DENIED as number) ||
      texts.some((text) => /access denied/i.test(text))
    ) {
      return new ContractError(
        'access-denied',
        `the network refused the caller's identity for ${fn}: ${error.message}${where ? ` (${where})` : ''}`,
      );
    }
    return new FabricLedgerError(
      step,
      code,
      `${fn}: ${step} failed (${code}): ${error.message}${where ? ` (${where})` : ''}`,
      { cause: error },
    );
  }
  if (error instanceof CommitError) {
    const code = validationCodeName(error.code);
    return new FabricLedgerError(
      'commit',
      code,
      `${fn}: transaction ${error.transactionId} was not committed: ${code}`,
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new FabricLedgerError(step, 'UNKNOWN', `${fn}: ${step} failed: ${message}`, {
    cause: error,
  });
}

const VALIDATION_CODES = new Map<number, string>(
  Object.entries(peer.TxValidationCode).map(([name, code]) => [code, name]),
);

export function validationCodeName(code: number): string {
  return VALIDATION_CODES.get(code) ?? `VALIDATION_CODE_${code}`;
}
