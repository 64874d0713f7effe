import { afterAll, beforeAll } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConnectionFile, type ConnectionFile } from '../../ledger/fabric/connection-file.ts';
import { FabricLedger, type FabricLedgerOptions } from '../../ledger/fabric/fabric-ledger.ts';
import { waitForPeersInStep } from '../../ledger/fabric/peer-sync.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { run } from '../../network/processes.ts';
import { buildStatedbEditor } from '../../network/tools/statedb-edit.ts';
import {
  buildFabric,
  deployChaincode,
  peerStateDatabase,
  restartPeer,
  stopNode,
  startNetwork,
  stopNetwork,
  type RunningNetwork,
  type StartNetworkOptions,
} from '../../network/fabric-network.ts';
import { domainOf, type TopologySpec } from '../../network/topology.ts';
import type { LedgerFixture } from './contract-suite.ts';

/**
 * A real Fabric network for tests: three banks with a peer each (endorsement: two of three), and
 * three client organisations (the coordinator's, the auditor's and an outsider) — the MSP ids the contract
 * suite uses. Ports from VEILSUM_FABRIC_TEST_PORT_BASE (default 28050), so tests run beside a
 * development network. `freshLedger()` deploys a new chaincode name: a new, empty world state.
 */
export const TEST_BANKS = ['BankAMSP', 'BankBMSP', 'BankCMSP'];

export function testTopology(portOffset = 0, banks: readonly string[] = TEST_BANKS): TopologySpec {
  return {
    banks: banks.map((mspId) => ({ mspId, users: [mspId] })),
    clients: [
      { mspId: 'CoordinatorMSP', users: ['CoordinatorMSP'] },
      { mspId: 'AuditorMSP', users: ['AuditorMSP'] },
      // An organisation with no peer that the contract suite makes a keyholder (keyholders are
      // never on a roster, and every bank is on one).
      { mspId: 'OutsiderMSP', users: ['OutsiderMSP'] },
    ],
    portBase: Number(process.env.VEILSUM_FABRIC_TEST_PORT_BASE ?? 28050) + portOffset,
    channel: 'veilsum',
    batchTimeoutMs: 50,
    maxMessageCount: 10,
  };
}

/**
 * What an auditor pins for `veilsum audit verify-bundle` on a test network: each organisation's
 * CA certificate file (cryptogen's ca/ folders) by MSP id and role, as CLI arguments too.
 */
export function pinnedCaFiles(
  directory: string,
  banks: readonly string[] = TEST_BANKS,
): {
  orderers: Record<string, string>;
  banks: Record<string, string>;
  others: Record<string, string>;
  args: string[];
} {
  const organisations = join(directory, 'organizations');
  const caOf = (kind: string, domain: string) =>
    join(organisations, kind, domain, 'ca', `ca.${domain}-cert.pem`);
  const of = (ids: readonly string[]) =>
    Object.fromEntries(ids.map((mspId) => [mspId, caOf('peerOrganizations', domainOf(mspId))]));
  const pinned = {
    orderers: { OrdererMSP: caOf('ordererOrganizations', 'orderer.veilsum.test') },
    banks: of(banks),
    others: of(testTopology().clients.map((client) => client.mspId)),
  };
  const args = (flag: string, files: Record<string, string>) =>
    Object.entries(files).flatMap(([mspId, file]) => [flag, `${mspId}=${file}`]);
  return {
    ...pinned,
    args: [
      ...args('--orderer', pinned.orderers),
      ...args('--bank', pinned.banks),
      ...args('--trust', pinned.others),
    ],
  };
}

export class FabricTestNetwork {
  readonly network: RunningNetwork;
  readonly connection: ConnectionFile;
  private readonly opened: FabricLedger[] = [];
  /** The identity peers are compared as (it may read everything). */
  private readonly reader = 'AuditorMSP';
  private chaincodes = 0;

  private constructor(network: RunningNetwork) {
    this.network = network;
    this.connection = loadConnectionFile(network.connectionFile);
  }

  /**
   * Builds Fabric (cached) and starts the network; the error names why when it cannot. Test
   * files that run at the same time use different `portOffset`s. `options` may give the
   * chaincode service extra variables (e.g. a shorter VEILSUM_MAX_CLOCK_SKEW_MS).
   */
  static async start(
    portOffset = 0,
    banks: readonly string[] = TEST_BANKS,
    options: StartNetworkOptions = {},
  ): Promise<FabricTestNetwork> {
    let fabricHome: string;
    try {
      fabricHome = await buildFabric();
    } catch (error) {
      throw new Error(
        `Fabric suite NOT RUN: the Fabric binaries could not be built: ${(error as Error).message}`,
      );
    }
    const directory = mkdtempSync(join(tmpdir(), 'veilsum-fabric-'));
    try {
      return new FabricTestNetwork(
        await startNetwork(testTopology(portOffset, banks), directory, fabricHome, options),
      );
    } catch (error) {
      // startNetwork stopped what it started; its folder goes too.
      rmSync(directory, { recursive: true, force: true });
      throw error;
    }
  }

  get directory(): string {
    return this.network.directory;
  }

  get fabricHome(): string {
    return this.network.state.fabricHome;
  }

  /** The peer of a bank, by MSP id. */
  peerOf(mspId: string): string {
    return this.connection.peers.find((peer) => peer.mspId === mspId)!.name;
  }

  /**
   * The attack of someone with write access to a bank's peer disk: that peer is stopped, the
   * text `from` in the value of `key` (chaincode `chaincode`'s world state) replaced by `to` in
   * its LevelDB, and the peer started again. Returns the peer's name.
   */
  async editPeerState(
    bank: string,
    chaincode: string,
    key: string,
    from: string,
    to: string,
  ): Promise<string> {
    const editor = await buildStatedbEditor(this.fabricHome);
    const victim = this.peerOf(bank);
    await stopNode(this.directory, victim);
    await run(
      editor,
      [
        peerStateDatabase(this.directory, victim),
        this.connection.channel,
        chaincode,
        key,
        from,
        to,
      ],
      { PATH: process.env.PATH },
    );
    await restartPeer(this.directory, victim);
    return victim;
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

  /** Waits until every peer has every block any of them had: reads agree across peers. */
  inStep(): Promise<number> {
    return waitForPeersInStep(this.connection, this.reader).then(({ height }) => height);
  }

  /**
   * The contract suite's fixture: a fresh ledger, every identity through BankA's peer (the
   * suite reads its own writes; cross-peer reads are the Fabric-only tests' business).
   */
  async fixture(): Promise<LedgerFixture> {
    const chaincode = await this.freshChaincode();
    const peer = this.peerOf('BankAMSP');
    return {
      connect: (mspId: string) => new Ledger(this.open({ identity: mspId, chaincode, peer })),
      gateway: (mspId: string) => this.open({ identity: mspId, chaincode, peer }),
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

/**
 * Starts a test network before the file's tests and stops it after them (also when they fail).
 * The returned getter throws the start-up error — e.g. why Fabric could not be built — so every
 * test that needs the network fails with that reason.
 */
export function useFabricTestNetwork(
  portOffset = 0,
  banks: readonly string[] = TEST_BANKS,
  options: StartNetworkOptions = {},
): () => FabricTestNetwork {
  let network: FabricTestNetwork | undefined;
  let startError: Error | undefined;
  beforeAll(async () => {
    try {
      network = await FabricTestNetwork.start(portOffset, banks, options);
    } catch (error) {
      startError = error as Error;
    }
  }, 600_000);
  afterAll(async () => {
    await network?.stop();
  }, 60_000);
  return () => {
    if (network === undefined) throw startError ?? new Error('the Fabric network did not start');
    return network;
  };
}
