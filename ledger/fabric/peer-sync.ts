import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionFile } from './connection-file.ts';
import { FabricLedger } from './fabric-ledger.ts';

/**
 * Peers commit each block independently, so right after a transaction commits on one peer
 * another may not have it yet. Waits until every peer in the connection file reports at least
 * the highest block height any of them reported when this was called (read as `identity`).
 * Returns that height.
 */
export async function waitForPeersInStep(
  connection: ConnectionFile,
  identity: string,
  timeoutMs = 30_000,
): Promise<number> {
  const ledgers = connection.peers.map(
    (peer) => new FabricLedger({ connection, identity, peer: peer.name }),
  );
  try {
    const heights = await Promise.all(ledgers.map((ledger) => ledger.chainHeight()));
    const target = Math.max(...heights);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lagging = [];
      for (const [i, ledger] of ledgers.entries())
        if (heights[i]! < target) {
          heights[i] = await ledger.chainHeight();
          if (heights[i] < target) lagging.push(ledger.peer.name);
        }
      if (lagging.length === 0) return target;
      if (Date.now() > deadline)
        throw new Error(
          `peers ${lagging.join(', ')} did not reach block height ${target} within ${timeoutMs / 1000} s`,
        );
      await sleep(50);
    }
  } finally {
    for (const ledger of ledgers) ledger.close();
  }
}
