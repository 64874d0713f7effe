import type { LedgerHead } from './block.ts';

/** The ledger file was altered outside the contract: it is not used. */
export class LedgerTamperedError extends Error {
  override name = 'LedgerTamperedError';
  readonly block: number;
  /** `hint`: what else the failure may mean (an old file format), appended as sentences. */
  constructor(path: string, block: number, reason: string, hint = '') {
    super(`the ledger ${path} was tampered with: ${reason}; refusing to use it${hint}`);
    this.block = block;
  }
}

/**
 * The ledger file does not extend the head this party verified before (its checkpoint): blocks
 * were dropped, an older copy restored, or another branch shown. Not used either.
 */
export class LedgerRolledBackError extends LedgerTamperedError {
  override name = 'LedgerRolledBackError';
  readonly verified: LedgerHead;
  constructor(path: string, verified: LedgerHead, reason: string) {
    super(path, verified.number, reason);
    this.verified = verified;
  }
}
