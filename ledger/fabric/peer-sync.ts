import type { ConnectionFile } from './connection-file.ts';
import { FabricLedger } from './fabric-ledger.ts';
import { peerUnreachable } from './peer-failover.ts';

/**
 * Peers commit each block independently, so right after a transaction commits on one peer
 * another may not have it yet. Waits until every reachable peer in the connection file has
 * committed the highest block any of them reported when this was called (read as `identity`),
 * each followed through its block events. A peer that is down cannot serve stale reads and is
 * skipped (named in `unreachable`); if none answers, this throws.
 */
export async function waitForPeersInStep(
  connection: ConnectionFile,
  identity: string,
  timeoutMs = 30_000,
): Promise<{ height: number; unreachable: string[] }> {
  const ledgers = connection.peers.map(
    (peer) => new FabricLedger({ connection, identity, peer: peer.name }),
  );
  const unreachable: string[] = [];
  const skipDown = (ledger: FabricLedger) => (error: unknown) => {
    if (!peerUnreachable((error as Error).cause ?? error)) throw error;
    unreachable.push(ledger.peer.name);
    return undefined;
  };
  try {
    const heights = await Promise.all(
      ledgers.map((ledger) => ledger.chainHeight().catch(skipDown(ledger))),
    );
    const known = heights.filter((height) => height !== undefined);
    if (known.length === 0) throw new Error(`no peer could be reached (${unreachable.join(', ')})`);
    const target = Math.max(...known);
    await Promise.all(
      ledgers.map((ledger, i) =>
        heights[i] === undefined || heights[i] >= target
          ? Promise.resolve()
          : ledger.waitForHeight(target, timeoutMs).catch(skipDown(ledger)),
      ),
    );
    return { height: target, unreachable };
  } finally {
    for (const ledger of ledgers) ledger.close();
  }
}
