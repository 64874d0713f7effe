import { BlockSignatureVerifier } from './block-signature.ts';
import { openDatabase } from './block.ts';
import {
  readSnapshot,
  type VerifyOptions,
  verifyChain,
  type VerifyResult,
} from './chain-verification.ts';

/**
 * Runs in a worker thread (verify-sync.ts): verifies a ledger file from genesis on its own
 * connection, in one read snapshot, and hands back the result and the replayed state.
 */
export interface VerifyRequest {
  readonly path: string;
  readonly caCertificatePem: string;
  readonly options: VerifyOptions;
  /** Whether to hand back the replayed state (to open the file) or only the result. */
  readonly withState: boolean;
}

export interface VerifyResponse {
  readonly result: VerifyResult;
  readonly head: { number: number; hash: string };
  readonly lastTimestamp: number;
  readonly state: [string, string, number][];
}

export async function run(request: VerifyRequest): Promise<VerifyResponse> {
  const db = openDatabase(request.path, true);
  let snapshot;
  try {
    snapshot = readSnapshot(db);
  } finally {
    db.close();
  }
  const { result, replay } = await verifyChain(
    snapshot,
    new BlockSignatureVerifier(request.caCertificatePem),
    request.options,
  );
  return {
    result,
    head: replay.head,
    lastTimestamp: replay.lastTimestamp,
    state: request.withState && result.ok ? replay.state.toEntries() : [],
  };
}
