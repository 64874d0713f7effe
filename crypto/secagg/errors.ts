/**
 * One error class per way a SecAgg+ transition can fail. `code` is stable: the service edge maps
 * it to a gRPC status once (e.g. unexpected-sender → PERMISSION_DENIED,
 * too-few-participants → ABORTED).
 */
export type SecAggErrorCode =
  | 'phase-order'
  | 'unexpected-sender'
  | 'duplicate-message'
  | 'malformed-message'
  | 'invalid-signature'
  | 'too-few-participants'
  | 'refused-reveal'
  | 'reconstruction-failed'
  | 'invalid-config'
  | 'ledger-mismatch'
  | 'coordinator-tampering';

export class SecAggError extends Error {
  readonly code: SecAggErrorCode;
  constructor(code: SecAggErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A message arrived for a phase that is not the current one. */
export class PhaseOrderError extends SecAggError {
  constructor(message: string) {
    super('phase-order', message);
  }
}

/** The sender is not allowed to speak in this phase (unknown index, or dropped earlier). */
export class UnexpectedSenderError extends SecAggError {
  constructor(message: string) {
    super('unexpected-sender', message);
  }
}

export class DuplicateMessageError extends SecAggError {
  constructor(message: string) {
    super('duplicate-message', message);
  }
}

/** Wrong field sizes, wrong recipient set, wrong vector length, undecodable share. */
export class MalformedMessageError extends SecAggError {
  constructor(message: string) {
    super('malformed-message', message);
  }
}

export class InvalidSignatureError extends SecAggError {
  constructor(message: string) {
    super('invalid-signature', message);
  }
}

/** The round must abort: fewer than the threshold remain where the protocol needs them. */
export class TooFewParticipantsError extends SecAggError {
  constructor(message: string) {
    super('too-few-participants', message);
  }
}

/** An honest client refuses a request that would reveal both secrets of one peer. */
export class RefusedRevealError extends SecAggError {
  constructor(message: string) {
    super('refused-reveal', message);
  }
}

/** Shares were inconsistent or a reconstructed secret did not match its commitment. */
export class ReconstructionError extends SecAggError {
  constructor(message: string) {
    super('reconstruction-failed', message);
  }
}

export class InvalidConfigError extends SecAggError {
  constructor(message: string) {
    super('invalid-config', message);
  }
}

/**
 * What the coordinator served differs from what the ledger agreed (roster, parameters, a phase's
 * participant set): the member refuses to go on and names the difference.
 */
export class LedgerMismatchError extends SecAggError {
  constructor(message: string) {
    super('ledger-mismatch', message);
  }
}

/**
 * Something the coordinator relayed is not what its author signed (a share box altered or forged
 * in transit): the member reveals nothing further and names the coordinator.
 */
export class CoordinatorTamperingError extends SecAggError {
  constructor(message: string) {
    super('coordinator-tampering', message);
  }
}
