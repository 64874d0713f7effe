import { join } from 'node:path';
import { loadConnectionFile } from '../../ledger/fabric/connection-file.ts';
import { waitForPeersInStep } from '../../ledger/fabric/peer-sync.ts';
import {
  type EmbeddedAccess,
  openLedger,
  type LedgerConfig,
  type OpenLedger,
} from '../../ledger/ledger-factory.ts';
import { buildFabric, startNetwork, stopNetwork } from '../../network/fabric-network.ts';
import { demoTopology } from '../../network/demo-topology.ts';

/**
 * The demo's ledger: the embedded SQLite file (default), or a Fabric network the demo starts
 * (five bank organisations with a peer each, the operator organisation for the coordinator and
 * keyholders) and stops at the end. Every party gets its own identity on it.
 */
export interface DemoLedger {
  readonly backend: 'embedded' | 'fabric';
  /** The ledger configuration of one identity (bank, coordinator or keyholder). */
  configFor(identity: string): LedgerConfig;
  /**
   * The ledger the closing audit reads: on Fabric as a bank other than the first, through that
   * bank's own peer — not the peer the coordinator wrote through. The embedded ledger is read
   * with `embedded` (the consortium CA it is verified against).
   */
  openAuditor(embedded: EmbeddedAccess): OpenLedger;
  /** Where the coordinator's transactions go in. */
  readonly writtenThrough: string;
  readonly networkReadyMs: number | null;
  /**
   * Fabric peers commit blocks independently: waits until every peer has what any of them has,
   * so what one party wrote through its peer is what the next reads through another.
   */
  inStep(): Promise<void>;
  close(): Promise<void>;
}

export const COORDINATOR_LEDGER_ID = 'veilsum-coordinator';

export async function startDemoLedger(
  backend: 'embedded' | 'fabric',
  directory: string,
  memberIds: readonly string[],
): Promise<DemoLedger> {
  if (backend === 'embedded') {
    const path = join(directory, 'ledger.db');
    return {
      backend,
      configFor: (identity) => ({ path, identity }),
      openAuditor: (embedded) => openLedger({ path }, COORDINATOR_LEDGER_ID, undefined, embedded),
      writtenThrough: path,
      networkReadyMs: null,
      inStep: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  }
  const fabricDirectory = join(directory, 'fabric');
  const network = await startNetwork(demoTopology(memberIds), fabricDirectory, await buildFabric());
  const connection = network.connectionFile;
  const configFor = (identity: string): LedgerConfig => ({ fabric: { connection, identity } });
  const coordinator = openLedger(configFor(COORDINATOR_LEDGER_ID), COORDINATOR_LEDGER_ID);
  const writtenThrough = coordinator.fabric!.peer.name;
  coordinator.close();
  const auditingBank = memberIds.at(-1)!;
  return {
    backend,
    configFor,
    openAuditor: () => openLedger(configFor(auditingBank), auditingBank),
    writtenThrough,
    networkReadyMs: network.state.networkReadyMs,
    inStep: async () => {
      await waitForPeersInStep(loadConnectionFile(connection), COORDINATOR_LEDGER_ID);
    },
    close: async () => {
      await stopNetwork(fabricDirectory);
    },
  };
}
