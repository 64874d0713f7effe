import { afterAll, beforeAll, jest } from '@jest/globals';
import { describeLedgerContract } from './contract-suite.ts';
import { FabricTestNetwork } from './fabric-network-fixture.ts';

/**
 * The contract suite on a real Fabric network built from the Fabric source (cached): orderer,
 * three bank peers, chaincode as a service over mutual TLS. If Fabric cannot be built here, every
 * test fails with the reason — never a silent skip.
 */
jest.setTimeout(180_000);

let network: FabricTestNetwork | undefined;
let startError: Error | undefined;

beforeAll(async () => {
  try {
    network = await FabricTestNetwork.start();
  } catch (error) {
    startError = error as Error;
  }
}, 600_000);

afterAll(async () => {
  await network?.stop();
}, 60_000);

function running(): FabricTestNetwork {
  if (network === undefined) throw startError ?? new Error('the Fabric network did not start');
  return network;
}

describeLedgerContract('a Fabric network (3 bank peers, majority endorsement)', () =>
  running().fixture(),
);
