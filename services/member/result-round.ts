import { Mode, type Round } from '../../proto/gen/veilsum/v1/round.ts';
import { hasConsistentParamsHash, ledgerParamsHash } from '../../proto/round-wire.ts';
import type { QuantizationParams } from '../../crypto/quantize.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import type { RoundRecord } from '../../ledger/records.ts';
import { dataLoss, failedPrecondition } from '../../sdk/common/grpc-errors.ts';

/**
 * What GetResult decodes a finished round's sum with. With a ledger view every field comes from
 * the bank's ledger (the round manifest committed at RoundOpened, and the RoundClosed record),
 * and the coordinator's Round must agree with it; without one, from the coordinator's Round.
 */
export interface ResultRound {
  readonly ckks: boolean;
  readonly dimension: number;
  /** SecAgg: the quantization the sum is decoded with. */
  readonly quantization: QuantizationParams | undefined;
  /** CKKS: SHA-256 (hex) of the collective key the manifest committed; undefined without a ledger. */
  readonly ckksKeySha256: string | undefined;
  /** How many contributions the sum holds (decoding a SecAgg sum depends on it). */
  readonly contributors: number;
  /** SecAgg: the aggregate's SHA-256 (hex) on the ledger; undefined without a ledger view. */
  readonly recordedAggregate: string | undefined;
}

/** The round a result is decoded as: the ledger's, the coordinator's only without a ledger view. */
export async function resultRound(
  round: Round,
  ledger: Ledger | undefined,
  waitMs = LEDGER_CLOSE_WAIT_MS,
): Promise<ResultRound> {
  const params = round.params!;
  const servedCkks = params.mode === Mode.MODE_CKKS;
  if (ledger === undefined)
    return {
      ckks: servedCkks,
      dimension: params.dimension,
      quantization: servedCkks ? undefined : params.quantization!,
      ckksKeySha256: undefined,
      contributors: round.included.length,
      recordedAggregate: undefined,
    };
  const roundId = round.roundId;
  const record = await closedOnLedger(ledger, roundId, waitMs);
  const served = (what: string, coordinator: unknown, ledgerValue: unknown): void => {
    if (coordinator !== ledgerValue)
      throw dataLoss(
        `the coordinator serves round ${roundId} with ${what} ${String(coordinator)}, but the bank's ledger view has ${String(ledgerValue)}: the result is refused; report it`,
      );
  };
  // The sum's contributors are those RoundClosed recorded: decoding with another count shifts
  // every SecAgg value by a multiple of the clip range.
  served('included count', round.included.length, record.included.length);
  const manifest = record.manifest;
  if (manifest === undefined || manifest === null) {
    // A round opened without a manifest: the served parameters must be the ones RoundOpened hashed.
    const committed =
      hasConsistentParamsHash(round) &&
      [Buffer.from(round.paramsHash), Buffer.from(ledgerParamsHash(params))].some(
        (hash) => hash.toString('hex') === record.paramsHash,
      );
    if (!committed || servedCkks)
      throw dataLoss(
        `round ${roundId} has no manifest on the bank's ledger view${servedCkks ? ' (a CKKS round needs one: it names the collective key)' : ", and the coordinator's parameters do not hash to its RoundOpened params hash"}: the result is refused; report it`,
      );
    return {
      ckks: false,
      dimension: params.dimension,
      quantization: params.quantization!,
      ckksKeySha256: undefined,
      contributors: record.included.length,
      recordedAggregate: record.aggregateHash ?? undefined,
    };
  }
  const ckks = manifest.mode === 'ckks';
  served('mode', servedCkks ? 'ckks' : 'secagg', manifest.mode);
  served('dimension', params.dimension, manifest.dimension);
  let quantization: QuantizationParams | undefined;
  if (!ckks) {
    const q = manifest.quantization ?? undefined;
    if (q !== undefined) {
      served('clip range', params.quantization?.clipRange, q.clipRange);
      served('level bits', params.quantization?.levelBits, q.levelBits);
      served('modulus bits', params.quantization?.modulusBits, q.modulusBits);
    }
    quantization = q ?? params.quantization!;
  }
  const ckksKeySha256 = manifest.ckksKeySha256;
  if (ckks && (typeof ckksKeySha256 !== 'string' || ckksKeySha256 === ''))
    throw dataLoss(
      `round ${roundId}'s manifest on the bank's ledger view names no CKKS key: its error bound has nothing to rest on; the result is refused; report it`,
    );
  return {
    ckks,
    dimension: manifest.dimension,
    quantization,
    ckksKeySha256: ckks ? ckksKeySha256! : undefined,
    contributors: record.included.length,
    recordedAggregate: ckks ? undefined : (record.aggregateHash ?? undefined),
  };
}

/**
 * How long GetResult waits for the bank's ledger view to show a round the coordinator calls done
 * as closed: the coordinator records RoundClosed just after the round ends, and the bank's view
 * (its Fabric peer, or its copy of the embedded file) catches up a moment later.
 */
const LEDGER_CLOSE_WAIT_MS = 15_000;
const LEDGER_CLOSE_POLL_MS = 200;

/** The round as closed on the ledger view, waiting up to `waitMs` for RoundClosed to arrive. */
async function closedOnLedger(
  ledger: Ledger,
  roundId: string,
  waitMs: number,
): Promise<RoundRecord> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    let reason: string;
    try {
      const record = await ledger.getRound(roundId);
      if (record.status === 'closed') return record;
      reason = "is not closed on the bank's ledger view yet";
    } catch (error) {
      reason = `is not on the bank's ledger view (${error instanceof Error ? error.message : String(error)})`;
    }
    if (Date.now() >= deadline)
      throw failedPrecondition(
        `round ${roundId} ${reason}: its result is decoded from the ledger's record of it; ask again once the bank's ledger peer has the RoundClosed block`,
      );
    await new Promise((resolve) => setTimeout(resolve, LEDGER_CLOSE_POLL_MS));
  }
}
