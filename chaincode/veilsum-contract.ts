import { Contract, type Context } from 'fabric-contract-api';
import {
  contract,
  ContractError,
  type ContractFunction,
  type TransactionContext,
} from '../ledger/contract.ts';
import { bootstrapProblem } from './bootstrap.ts';
import {
  clockAdvanceProblem,
  encodeLedgerClock,
  LEDGER_CLOCK_KEY,
  MAX_CLOCK_LEAD_MS,
  parseLedgerClock,
} from './ledger-clock.ts';
import { maxClockSkewMs, proposalTimeProblem } from './proposal-time.ts';

/**
 * The veilsum contract as Fabric chaincode: every transaction delegates to ledger/contract.ts —
 * the same code the embedded ledger runs — through a TransactionContext built on the Fabric stub.
 * Arguments travel as JSON strings (one per parameter) and results come back as JSON.
 * Access control uses the submitter's MSP id from its certificate (ctx.clientIdentity).
 */
function transactionContext(ctx: Context, timestamp: number): TransactionContext {
  const stub = ctx.stub;
  return {
    state: {
      async get(key) {
        const value = await stub.getState(key);
        return value && value.length > 0 ? Buffer.from(value).toString('utf8') : undefined;
      },
      async put(key, value) {
        await stub.putState(key, Buffer.from(value, 'utf8'));
      },
      async list(prefix) {
        const values: string[] = [];
        const iterator = await stub.getStateByRange(prefix, `${prefix}\uffff`);
        try {
          for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
            values.push(Buffer.from(next.value.value).toString('utf8'));
          }
        } finally {
          await iterator.close();
        }
        return values;
      },
    },
    callerMspId: ctx.clientIdentity.getMSPID(),
    transactionId: stub.getTxID(),
    timestamp,
    // Fabric keeps one event per transaction; the contract emits at most one.
    emit: (event) => stub.setEvent(event.name, Buffer.from(JSON.stringify(event.payload))),
  };
}

/** The proposal's timestamp in ms since the epoch, as the submitter signed it. */
function proposalTime(ctx: Context): number {
  const timestamp = ctx.stub.getTxTimestamp();
  return Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1e6);
}

/** The proposal's time, refused unless it is within the skew of this peer's clock. */
function endorsedTime(ctx: Context, fn: string, maxSkewMs = maxClockSkewMs()): number {
  // The contract's clock is the submitter's: this peer endorses only a time near its own.
  const timestamp = proposalTime(ctx);
  const skewed = proposalTimeProblem(timestamp, Date.now(), maxSkewMs);
  if (skewed !== undefined) throw new Error(`[invalid] ${fn} refused: ${skewed}`);
  return timestamp;
}

/**
 * Reads the ledger clock (putting it in the transaction's read set) and writes it forward to
 * the later of it and `timestamp`; returns that time (ledger-clock.ts).
 */
async function advanceLedgerClock(ctx: Context, timestamp: number): Promise<number> {
  const at = Math.max(parseLedgerClock(await ctx.stub.getState(LEDGER_CLOCK_KEY)), timestamp);
  await ctx.stub.putState(LEDGER_CLOCK_KEY, encodeLedgerClock(at));
  return at;
}

/** The ledger is empty: no member registered yet (its first registration bootstraps it). */
async function noMemberYet(ctx: Context): Promise<boolean> {
  const iterator = await ctx.stub.getStateByRange('member/', 'member/\uffff');
  try {
    return (await iterator.next()).done === true;
  } finally {
    await iterator.close();
  }
}

async function run(ctx: Context, fn: ContractFunction, jsonArgs: string[]): Promise<string> {
  let timestamp = endorsedTime(ctx, fn);
  if (fn === 'registerMember' && (await noMemberYet(ctx))) {
    const refused = bootstrapProblem(ctx.clientIdentity.getMSPID());
    if (refused !== undefined)
      throw new Error(`[access-denied] registerMember refused: ${refused}`);
  }
  // A round is dated no earlier than the ledger clock, and a held openRound loses its commit.
  // Nor is it dated more than the clock's lead ahead of this peer: a round dated at the edge of
  // the skew would pin the clock there, and with it every later round's date (review).
  if (fn === 'openRound') {
    if (timestamp > Date.now() + MAX_CLOCK_LEAD_MS)
      throw new Error(
        `[invalid] openRound refused: its time is ${Math.round((timestamp - Date.now()) / 1000)} s ahead of this peer's clock; a round may be dated at most ${MAX_CLOCK_LEAD_MS / 1000} s ahead`,
      );
    timestamp = await advanceLedgerClock(ctx, timestamp);
  }
  let args: unknown[];
  try {
    args = jsonArgs.map((arg) => JSON.parse(arg) as unknown);
  } catch {
    throw new Error(`[invalid] every argument of ${fn} must be JSON`);
  }
  try {
    const implementation = (contract[fn] as (...a: unknown[]) => Promise<unknown>).bind(contract);
    return JSON.stringify(
      (await implementation(transactionContext(ctx, timestamp), ...args)) ?? null,
    );
  } catch (error) {
    // The kind survives the trip to the client in the message: FabricLedger maps it back.
    if (error instanceof ContractError) throw new Error(`[${error.kind}] ${error.message}`);
    throw error;
  }
}

export class VeilsumContract extends Contract {
  constructor() {
    super('veilsum');
  }
  /**
   * Advances the ledger clock to this proposal's time (ledger-clock.ts): any registered
   * organisation may, and every one that does so periodically bounds how long an endorsed
   * openRound can be held before it is submitted. Returns the clock's new time.
   */
  async advanceClock(ctx: Context) {
    const timestamp = endorsedTime(ctx, 'advanceClock');
    const caller = ctx.clientIdentity.getMSPID();
    const registered = await ctx.stub.getState(`member/${caller}`);
    if (registered === undefined || registered.length === 0)
      throw new Error(`[access-denied] advanceClock refused: ${caller} is not a registered member`);
    const problem = clockAdvanceProblem(
      timestamp,
      parseLedgerClock(await ctx.stub.getState(LEDGER_CLOCK_KEY)),
      Date.now(),
    );
    if (problem !== undefined) throw new Error(`[conflict] advanceClock refused: ${problem}`);
    return JSON.stringify(await advanceLedgerClock(ctx, timestamp));
  }
  registerMember(ctx: Context, mspId: string, roles: string) {
    return run(ctx, 'registerMember', [mspId, roles]);
  }
  getMember(ctx: Context, mspId: string) {
    return run(ctx, 'getMember', [mspId]);
  }
  grantConsent(
    ctx: Context,
    consentId: string,
    datasetId: string,
    purpose: string,
    expiresAt: string,
  ) {
    return run(ctx, 'grantConsent', [consentId, datasetId, purpose, expiresAt]);
  }
  revokeConsent(ctx: Context, consentId: string) {
    return run(ctx, 'revokeConsent', [consentId]);
  }
  consentHistory(ctx: Context, memberId: string) {
    return run(ctx, 'consentHistory', [memberId]);
  }
  listConsents(ctx: Context) {
    return run(ctx, 'listConsents', []);
  }
  consentInForce(ctx: Context, memberId: string, purpose: string, at: string) {
    return run(ctx, 'consentInForce', [memberId, purpose, at]);
  }
  openRound(
    ctx: Context,
    roundId: string,
    modelId: string,
    roundNumber: string,
    paramsHash: string,
    roster: string,
    manifest: string,
  ) {
    return run(ctx, 'openRound', [roundId, modelId, roundNumber, paramsHash, roster, manifest]);
  }
  registerIdentityKey(ctx: Context, publicKey: string) {
    return run(ctx, 'registerIdentityKey', [publicKey]);
  }
  commitRoundPhase(ctx: Context, roundId: string, phase: string, members: string) {
    return run(ctx, 'commitRoundPhase', [roundId, phase, members]);
  }
  getRoundPhase(ctx: Context, roundId: string, phase: string) {
    return run(ctx, 'getRoundPhase', [roundId, phase]);
  }
  recordMisbehaviour(
    ctx: Context,
    roundId: string,
    memberId: string,
    reason: string,
    evidenceSha256: string,
  ) {
    return run(ctx, 'recordMisbehaviour', [roundId, memberId, reason, evidenceSha256]);
  }
  roundMisbehaviour(ctx: Context, roundId: string) {
    return run(ctx, 'roundMisbehaviour', [roundId]);
  }
  closeRound(
    ctx: Context,
    roundId: string,
    included: string,
    uploadsMerkleRoot: string,
    aggregateHash: string,
    dropoutCount: string,
    receipts: string,
  ) {
    return run(ctx, 'closeRound', [
      roundId,
      included,
      uploadsMerkleRoot,
      aggregateHash,
      dropoutCount,
      receipts,
    ]);
  }
  attestCollectiveKey(
    ctx: Context,
    keySha256: string,
    ceremonyId: string,
    threshold: string,
    participants: string,
    limits: string,
  ) {
    return run(ctx, 'attestCollectiveKey', [
      keySha256,
      ceremonyId,
      threshold,
      participants,
      limits,
    ]);
  }
  getCollectiveKey(ctx: Context, keySha256: string) {
    return run(ctx, 'getCollectiveKey', [keySha256]);
  }
  recordKeyDecryption(
    ctx: Context,
    keySha256: string,
    aggregateSha256: string,
    roundId: string,
    ciphertexts: string,
    contributors: string,
  ) {
    return run(ctx, 'recordKeyDecryption', [
      keySha256,
      aggregateSha256,
      roundId,
      ciphertexts,
      contributors,
    ]);
  }
  keyDecryptions(ctx: Context, keySha256: string) {
    return run(ctx, 'keyDecryptions', [keySha256]);
  }
  getRound(ctx: Context, roundId: string) {
    return run(ctx, 'getRound', [roundId]);
  }
  recordModelVersion(ctx: Context, modelHash: string, roundId: string) {
    return run(ctx, 'recordModelVersion', [modelHash, roundId]);
  }
  lineage(ctx: Context, modelHash: string) {
    return run(ctx, 'lineage', [modelHash]);
  }
}
