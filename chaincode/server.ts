/**
 * Chaincode as a service (CCaaS): the peer's external builder dials this server. Configure with
 * CHAINCODE_SERVER_ADDRESS (host:port to listen on) and CHAINCODE_ID (the package id the peer
 * reports after `peer lifecycle chaincode install`).
 */
import { createRequire } from 'node:module';
import { JSONSerializer } from 'fabric-contract-api';
import { VeilsumContract } from './veilsum-contract.ts';

const require = createRequire(import.meta.url);
// fabric-shim's contract bootstrap, which `fabric-chaincode-node server` uses from package.json.
const Bootstrap = require('fabric-shim/lib/contract-spi/bootstrap.js') as {
  register(
    contracts: unknown[],
    serializers: unknown,
    fileMetadata: unknown,
    title: string,
    version: string,
    opts: { ccid: string; address: string },
    serverMode: boolean,
  ): Promise<void>;
};

const address = process.env.CHAINCODE_SERVER_ADDRESS;
const ccid = process.env.CHAINCODE_ID;
if (!address || !ccid) {
  console.error(
    'set CHAINCODE_SERVER_ADDRESS (host:port) and CHAINCODE_ID (the installed package id)',
  );
  process.exit(2);
}
await Bootstrap.register(
  [VeilsumContract],
  { transaction: 'jsonSerializer', serializers: { jsonSerializer: JSONSerializer } },
  {},
  'veilsum',
  '0.1.0',
  { ccid, address },
  true,
);
