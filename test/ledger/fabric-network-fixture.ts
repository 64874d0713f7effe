import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConnectionFile, type ConnectionFile } from '../../ledger/fabric/connection-file.ts';
import { FabricLedger, type FabricLedgerOptions } from '../../ledger/fabric/fabric-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import {
  buildFabric,
  deployChaincode,
  startNetwork,
  stopNetwork,
  type RunningNetwork,
} from '../../network/fabric-network.ts';
import type { TopologySpec } from '../../network/topology.ts';
import type { LedgerFixture } from './contract-suite.ts';

/**
 * A real Fabric network for tests: three banks with a peer each (endorsement: two of three), and
 * two client organisations (the coordinator's and the auditor's) — the MSP ids the contract
 * suite uses. Ports from VEILSUM_FABRIC_TEST_PORT_BASE (default 28050), so tests run beside a
 * development network. `freshLedger()` deploys a new chaincode name: a new, empty world state.
 */
export const TEST_BANKS = ['BankAMSP', 'BankBMSP', 'BankCMSP'];

export function testTopology(): TopologySpec {
  return {
    banks: TEST_BANKS.map((mspId) => ({ mspId, users: [mspId] })),
    clients: [
      { mspId: 'CoordinatorMSP', users: ['CoordinatorMSP'] },
      { mspId: 'AuditorMSP', users: ['AuditorMSP'] },
    ],
    portBase: Number(process.env.VEILSUM_FABRIC_TEST_PORT_BASE ?? 28050),
    channel: 'veilsum',
    batchTimeoutMs: 50,
    maxMessageCount: 10,
  };
}

export class FabricTestNetwork {
  readonly network: RunningNetwork;
  readonly connection: ConnectionFile;
  private readonly opened: FabricLedger[] = [];
  private chaincodes = 0;

  private constructor(network: RunningNetwork) {
    this.network = network;
    this.connection = loadConnectionFile(network.connectionFile);
  }

  /** Builds Fabric (cached) and starts the network; the error names why when it cannot. */
  static async start(): Promise<FabricTestNetwork> {
    let fabricHome: string;
    try {
      fabricHome = await buildFabric();
    } catch (error) {
      throw new Error(
        `Fabric suite NOT RUN: the Fabric binaries could not be built: ${(error as Error).message}`,
      );
    }
    const directory = mkdtempSync(join(tmpdir(), 'veilsum-fabric-'));
    return new FabricTestNetwork(await startNetwork(testTopology(), directory, fabricHome));
  }

  get directory(): string {
    return this.network.directory;
  }

  /** A new chaincode definition on the channel: an empty ledger. */
  async freshChaincode(): Promise<string> {
    const name = `veilsum-t${++this.chaincodes}`;
    await deployChaincode(this.directory, name);
    return name;
  }

  open(options: Omit<FabricLedgerOptions, 'connection'>): FabricLedger {
    const ledger = new FabricLedger({ connection: this.connection, ...options });
    this.opened.push(ledger);
    return ledger;
  }

  async fixture(): Promise<LedgerFixture> {
    const chaincode = await this.freshChaincode();
    return {
      connect: (mspId: string) => new Ledger(this.open({ identity: mspId, chaincode })),
      now: () => Date.now(),
    };
  }

  async stop(): Promise<void> {
    for (const ledger of this.opened.splice(0)) ledger.close();
    await stopNetwork(this.directory);
    if (process.env.VEILSUM_KEEP_FABRIC_DIR === undefined)
      rmSync(this.directory, { recursive: true, force: true });
  }
}
