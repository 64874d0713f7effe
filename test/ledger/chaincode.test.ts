import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { JSONSerializer } from 'fabric-contract-api';
import { maxClockSkewMs, proposalTimeProblem } from '../../chaincode/proposal-time.ts';
import { VeilsumContract } from '../../chaincode/veilsum-contract.ts';
import { contract } from '../../ledger/contract.ts';
import { peerContext } from './chaincode-stub.ts';

const require = createRequire(import.meta.url);
const ChaincodeFromContract =
  require('fabric-shim/lib/contract-spi/chaincodefromcontract.js') as new (
    contracts: unknown[],
    serializers: unknown,
    metadata: unknown,
    title: string,
    version: string,
  ) => { metadata: { contracts: Record<string, { transactions: { name: string }[] }> } };

describe('chaincode packaging (fabric-contract-api, no network)', () => {
  it('exposes every contract function as a Fabric transaction of the veilsum contract', () => {
    const chaincode = new ChaincodeFromContract(
      [VeilsumContract],
      { transaction: 'jsonSerializer', serializers: { jsonSerializer: JSONSerializer } },
      {},
      'veilsum',
      '0.1.0',
    );
    const names = chaincode.metadata.contracts.veilsum!.transactions.map((t) => t.name).sort();
    // advanceClock is the chaincode's own (chaincode/ledger-clock.ts).
    expect(names).toEqual([...Object.keys(contract), 'advanceClock'].sort());
  });
});

/**
 * The chaincode's own clock check, through VeilsumContract as the peer's shim calls it. The stub
 * is an in-memory world state with the proposal's timestamp and creator; the Fabric network test
 * that backdates a real signed proposal is test/adversarial/fabric-forged-transactions.test.ts.
 */
describe('chaincode clock check (each endorsing peer)', () => {
  const HOUR = 3_600_000;
  beforeEach(() => {
    process.env.VEILSUM_BOOTSTRAP_MSP = 'CoordinatorMSP';
  });
  const register = (proposalMs: number, state: Map<string, Uint8Array>) =>
    new VeilsumContract().registerMember(
      peerContext(proposalMs, 'CoordinatorMSP', state),
      '"CoordinatorMSP"',
      '["coordinator"]',
    );

  afterEach(() => {
    delete process.env.VEILSUM_MAX_CLOCK_SKEW_MS;
    delete process.env.VEILSUM_BOOTSTRAP_MSP;
  });

  it('refuses a proposal backdated or postdated beyond 5 minutes of its clock, writing nothing', async () => {
    const state = new Map<string, Uint8Array>();
    await expect(register(Date.now() - HOUR, state)).rejects.toThrow(
      /^\[invalid\] registerMember refused: the proposal's timestamp .* is 36\d\d s behind this peer's clock .*; peers accept at most 300 s/,
    );
    await expect(register(Date.now() + HOUR, state)).rejects.toThrow(/ahead of this peer's clock/);
    expect(state.size).toBe(0);
    // Within the skew the same transaction is endorsed (a peer's clock may be a little off).
    const record = JSON.parse(await register(Date.now() - 60_000, state)) as { mspId: string };
    expect(record.mspId).toBe('CoordinatorMSP');
    expect(state.has('member/CoordinatorMSP')).toBe(true);
  });

  it('takes its bound from VEILSUM_MAX_CLOCK_SKEW_MS, and refuses a nonsensical one', async () => {
    process.env.VEILSUM_MAX_CLOCK_SKEW_MS = String(2 * HOUR);
    const state = new Map<string, Uint8Array>();
    await register(Date.now() - HOUR, state);
    expect(state.has('member/CoordinatorMSP')).toBe(true);
    process.env.VEILSUM_MAX_CLOCK_SKEW_MS = '0';
    expect(() => maxClockSkewMs()).toThrow(/VEILSUM_MAX_CLOCK_SKEW_MS must be a whole number/);
  });

  it('judges a proposal time at the edge of the bound inclusively', () => {
    expect(proposalTimeProblem(1_000_000 - 300_000, 1_000_000, 300_000)).toBeUndefined();
    expect(proposalTimeProblem(1_000_000 - 300_001, 1_000_000, 300_000)).toMatch(/behind/);
    expect(proposalTimeProblem(1_000_000 + 300_001, 1_000_000, 300_000)).toMatch(/ahead of/);
    expect(proposalTimeProblem(Number.NaN, 1_000_000, 300_000)).toMatch(/no readable timestamp/);
  });
});

describe('ledger clock (chaincode/ledger-clock.ts)', () => {
  beforeEach(() => {
    process.env.VEILSUM_BOOTSTRAP_MSP = 'CoordinatorMSP';
  });
  afterEach(() => {
    delete process.env.VEILSUM_BOOTSTRAP_MSP;
  });

  /** A coordinator and BankA (consent c1 for model m) on a fresh chaincode; rounds of m. */
  async function clockWorld() {
    const state = new Map<string, Uint8Array>();
    const chaincode = new VeilsumContract();
    const now = Date.now();
    const as = (mspId: string, at = now) => peerContext(at, mspId, state);
    await chaincode.registerMember(as('CoordinatorMSP'), '"CoordinatorMSP"', '["coordinator"]');
    await chaincode.registerMember(as('CoordinatorMSP'), '"BankAMSP"', '["member"]');
    await chaincode.grantConsent(as('BankAMSP'), '"c1"', '"cards"', '"m"', String(now + 3_600_000));
    const openRound = (round: number, at = now) =>
      chaincode.openRound(
        as('CoordinatorMSP', at),
        JSON.stringify(`m/round-${round}`),
        '"m"',
        String(round),
        JSON.stringify('a'.repeat(64)),
        '["BankAMSP"]',
        'null',
      );
    return { state, chaincode, now, as, openRound };
  }

  it('openRound reads and advances the ledger clock, and is dated no earlier than it', async () => {
    const { state, chaincode, now, as, openRound } = await clockWorld();
    await expect(chaincode.advanceClock(as('StrangerMSP'))).rejects.toThrow(
      /advanceClock refused: StrangerMSP is not a registered member/,
    );
    const clock = () => JSON.parse(new TextDecoder().decode(state.get('ledger-clock'))) as unknown;
    // A member advances the clock 20 s ahead of the coordinator's next proposal.
    expect(JSON.parse(await chaincode.advanceClock(as('BankAMSP', now + 20_000)))).toBe(
      now + 20_000,
    );
    const round = JSON.parse(await openRound(1)) as { openedAt: number };
    expect(round.openedAt).toBe(now + 20_000);
    expect(clock()).toEqual({ at: now + 20_000 });
    // A later round moves the clock forward; the clock never goes back.
    await openRound(2, now + 28_000);
    expect(clock()).toEqual({ at: now + 28_000 });
    await expect(chaincode.advanceClock(as('BankAMSP', now + 25_000))).rejects.toThrow(
      /advanceClock refused: the ledger clock already reads .*; it advances at most once every 10 s/,
    );
    // Nor may a member push it far ahead of the peers' clocks (rounds would be dated there).
    await expect(chaincode.advanceClock(as('BankAMSP', Date.now() + 120_000))).rejects.toThrow(
      /advanceClock refused: its time is 1\d\d s ahead of this peer's clock; the ledger clock may lead by at most 30 s/,
    );
    expect(clock()).toEqual({ at: now + 28_000 });
  });

  it('a coordinator cannot pin the clock ahead to keep a bank from revoking its consent (review)', async () => {
    const { chaincode, now, as, openRound } = await clockWorld();
    // Dated at the edge of the 5 min skew, every round after it would be dated there too (the
    // clock), and a revocation may not predate a round that used the consent: refused.
    await expect(openRound(1, now + 290_000)).rejects.toThrow(
      /openRound refused: its time is 29\d s ahead of this peer's clock; a round may be dated at most 30 s ahead/,
    );
    // At most 30 s ahead; a revocation sent at honest time right after is not refused for its
    // time: it takes effect when the round that used the consent opened.
    const opened = JSON.parse(await openRound(1, now + 25_000)) as { openedAt: number };
    const revoked = JSON.parse(await chaincode.revokeConsent(as('BankAMSP', now), '"c1"')) as {
      revokedAt: number;
    };
    expect(revoked.revokedAt).toBe(opened.openedAt);
    // And no round opens on it afterwards.
    await expect(openRound(2, now + 26_000)).rejects.toThrow(/revoked/);
  });
});
