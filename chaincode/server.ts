/**
 * Chaincode as a service (CCaaS): the peers' external builder dials this server. Configure with
 * CHAINCODE_SERVER_ADDRESS (host:port to listen on), CHAINCODE_ID (the package id the peer reports
 * after `peer lifecycle chaincode install`) and the TLS files of the peer ↔ chaincode link:
 * CHAINCODE_TLS_CERT_FILE, CHAINCODE_TLS_KEY_FILE and CHAINCODE_TLS_CLIENT_CA_FILE (the CA of the
 * client certificate the peers present; mutual TLS). Plaintext needs CHAINCODE_TLS_DISABLED=true
 * spelled out: anyone who can reach a plaintext chaincode port can impersonate a peer to it.
 * VEILSUM_MAX_CLOCK_SKEW_MS (default 300000, 5 min) bounds how far a proposal's timestamp may be
 * from this peer's clock (chaincode/proposal-time.ts). VEILSUM_BOOTSTRAP_MSP names the one
 * organisation (the operator's MSP id) that may make the ledger's first registration and so
 * become its coordinator (chaincode/bootstrap.ts); every organisation's chaincode names the same.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { JSONSerializer } from 'fabric-contract-api';
import { BOOTSTRAP_MSP_VARIABLE, bootstrapMspId } from './bootstrap.ts';
import { maxClockSkewMs } from './proposal-time.ts';
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
    opts: {
      ccid: string;
      address: string;
      tlsProps?: { key: Buffer; cert: Buffer; clientCACerts?: Buffer };
    },
    serverMode: boolean,
  ): Promise<void>;
};

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

try {
  maxClockSkewMs();
} catch (error) {
  fail((error as Error).message);
}

if (bootstrapMspId() === undefined)
  fail(
    `set ${BOOTSTRAP_MSP_VARIABLE} to the MSP id of the operator, the one organisation that may bootstrap the ledger as its coordinator`,
  );

const address = process.env.CHAINCODE_SERVER_ADDRESS;
const ccid = process.env.CHAINCODE_ID;
if (!address || !ccid)
  fail('set CHAINCODE_SERVER_ADDRESS (host:port) and CHAINCODE_ID (the installed package id)');

const { CHAINCODE_TLS_CERT_FILE, CHAINCODE_TLS_KEY_FILE, CHAINCODE_TLS_CLIENT_CA_FILE } =
  process.env;
let tlsProps: { key: Buffer; cert: Buffer; clientCACerts?: Buffer } | undefined;
if (CHAINCODE_TLS_CERT_FILE && CHAINCODE_TLS_KEY_FILE) {
  tlsProps = {
    key: readFileSync(CHAINCODE_TLS_KEY_FILE),
    cert: readFileSync(CHAINCODE_TLS_CERT_FILE),
    ...(CHAINCODE_TLS_CLIENT_CA_FILE
      ? { clientCACerts: readFileSync(CHAINCODE_TLS_CLIENT_CA_FILE) }
      : {}),
  };
} else if (process.env.CHAINCODE_TLS_DISABLED !== 'true') {
  fail(
    'set CHAINCODE_TLS_CERT_FILE and CHAINCODE_TLS_KEY_FILE (and CHAINCODE_TLS_CLIENT_CA_FILE for mutual TLS), or CHAINCODE_TLS_DISABLED=true for a plaintext link',
  );
}

await Bootstrap.register(
  [VeilsumContract],
  { transaction: 'jsonSerializer', serializers: { jsonSerializer: JSONSerializer } },
  {},
  'veilsum',
  '0.1.0',
  { ccid, address, ...(tlsProps ? { tlsProps } : {}) },
  true,
);
