import { afterEach, describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { type Context, JSONSerializer } from 'fabric-contract-api';
import { maxClockSkewMs, proposalTimeProblem } from '../../chaincode/proposal-time.ts';
import { VeilsumContract } from '../../chaincode/veilsum-contract.ts';
import { contract } from '../../ledger/contract.ts';

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
    expect(names).toEqual(Object.keys(contract).sort());
  });
});

/**
 * The chaincode's own clock check, through VeilsumContract as the peer's shim calls it. The stub
 * is an in-memory world state with the proposal's timestamp and creator; the Fabric network test
 * that backdates a real signed proposal is test/adversarial/fabric-forged-transactions.test.ts.
 */
function peerContext(proposalMs: number, mspId: string, state: Map<string, Uint8Array>) {
  return {
    stub: {
      getTxTimestamp: () => ({
        seconds: Math.floor(proposalMs / 1000),
        nanos: (proposalMs % 1000) * 1e6,
      }),
      getTxID: () => `tx-${proposalMs}`,
      getState: (key: string) => Promise.resolve(state.get(key) ?? new Uint8Array()),
      putState: (key: string, value: Uint8Array) => {
        state.set(key, value);
        return Promise.resolve();
      },
      getStateByRange: (start: string, end: string) => {
        const keys = [...state.keys()].filter((key) => key >= start && key < end).sort();
        return Promise.resolve({
          next: () =>
            Promise.resolve(
              keys.length > 0
                ? { done: false, value: { key: keys[0]!, value: state.get(keys.shift()!)! } }
                : { done: true, value: undefined },
            ),
          close: () => Promise.resolve(),
        });
      },
      setEvent: () => undefined,
    },
    clientIdentity: { getMSPID: () => mspId },
  } as unknown as Context;
}

describe('chaincode clock check (each endorsing peer)', () => {
  const HOUR = 3_600_000;
  const register = (proposalMs: number, state: Map<string, Uint8Array>) =>
    new VeilsumContract().registerMember(
      peerContext(proposalMs, 'CoordinatorMSP', state),
      '"CoordinatorMSP"',
      '["coordinator"]',
    );

  afterEach(() => {
    delete process.env.VEILSUM_MAX_CLOCK_SKEW_MS;
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
