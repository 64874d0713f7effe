import { describe, expect, it } from '@jest/globals';
import { type Context } from 'fabric-contract-api';
import { VeilsumContract } from '../../chaincode/veilsum-contract.ts';

/**
 * Review of branch ledger-contract (attacker's view): `veilsum ledger init` (cli/commands/
 * ledger-setup.ts) bootstraps a ledger "for your own PKI" by the contract's first-registration
 * rule — whoever registers first becomes the coordinator. On a Fabric channel every
 * organisation can send that first transaction: a bank that runs `ledger init` with its own
 * config before the operator does (or calls registerMember itself) owns the consortium's
 * membership and can open rounds, read every consent and name the keyholders. Nothing in the
 * chaincode names which MSP may bootstrap it. Played through the chaincode as the peer's shim
 * calls it, with an in-memory world state.
 */
function peerContext(mspId: string, state: Map<string, Uint8Array>) {
  const now = Date.now();
  return {
    stub: {
      getTxTimestamp: () => ({ seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 }),
      getTxID: () => `tx-${mspId}-${now}`,
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

describe('review: who may bootstrap the Fabric ledger', () => {
  it('a member bank cannot make itself the coordinator of a freshly deployed chaincode', async () => {
    const state = new Map<string, Uint8Array>();
    const chaincode = new VeilsumContract();
    let taken = false;
    try {
      await chaincode.registerMember(
        peerContext('BankAMSP', state),
        '"BankAMSP"',
        '["coordinator"]',
      );
      taken = true;
    } catch {
      taken = false;
    }
    // The operator's `ledger init` then fails: BankAMSP holds the coordinator role.
    let operator: unknown;
    try {
      await chaincode.registerMember(
        peerContext('CoordinatorMSP', state),
        '"CoordinatorMSP"',
        '["coordinator"]',
      );
    } catch (error) {
      operator = error;
    }
    console.log(JSON.stringify({ taken, operator: (operator as Error | undefined)?.message }));
    expect(taken).toBe(false);
  });
});
