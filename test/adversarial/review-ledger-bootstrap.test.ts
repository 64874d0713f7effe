import { afterEach, describe, expect, it } from '@jest/globals';
import { VeilsumContract } from '../../chaincode/veilsum-contract.ts';
import { peerContext as stubContext } from '../ledger/chaincode-stub.ts';

/**
 * Review of branch ledger-contract (attacker's view): `veilsum ledger init` (cli/commands/
 * ledger-setup.ts) bootstraps a ledger "for your own PKI" by the contract's first-registration
 * rule — whoever registers first becomes the coordinator. On a Fabric channel every
 * organisation can send that first transaction: a bank that runs `ledger init` with its own
 * config before the operator does (or calls registerMember itself) owns the consortium's
 * membership and can open rounds, read every consent and name the keyholders. Nothing in the
 * chaincode named which MSP may bootstrap it. Played through the chaincode as the peer's shim
 * calls it, with an in-memory world state; the chaincode is deployed as every organisation
 * deploys it, naming the operator (VEILSUM_BOOTSTRAP_MSP=CoordinatorMSP, chaincode/bootstrap.ts).
 */
function peerContext(mspId: string, state: Map<string, Uint8Array>) {
  return stubContext(Date.now(), mspId, state);
}

describe('review: who may bootstrap the Fabric ledger', () => {
  afterEach(() => {
    delete process.env.VEILSUM_BOOTSTRAP_MSP;
  });

  it('a member bank cannot make itself the coordinator of a freshly deployed chaincode', async () => {
    process.env.VEILSUM_BOOTSTRAP_MSP = 'CoordinatorMSP';
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
    // The operator named at deployment still bootstraps it; the bank holds no role.
    expect(operator).toBeUndefined();
    const coordinator = JSON.parse(
      new TextDecoder().decode(state.get('member/CoordinatorMSP')),
    ) as unknown;
    expect(coordinator).toMatchObject({ mspId: 'CoordinatorMSP', roles: ['coordinator'] });
    expect(state.has('member/BankAMSP')).toBe(false);
  });

  it('a chaincode deployed without naming the operator lets nobody bootstrap it', async () => {
    const state = new Map<string, Uint8Array>();
    await expect(
      new VeilsumContract().registerMember(
        peerContext('CoordinatorMSP', state),
        '"CoordinatorMSP"',
        '["coordinator"]',
      ),
    ).rejects.toThrow(/names no bootstrap organisation \(VEILSUM_BOOTSTRAP_MSP/);
    expect(state.size).toBe(0);
  });
});
