import { describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { JSONSerializer } from 'fabric-contract-api';
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
