import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FabricLedger } from '../../ledger/fabric/fabric-ledger.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import { ComplianceConsole } from '../../services/console/console-server.ts';
import { FabricHistory } from '../../services/console/ledger-history.ts';

/**
 * Attacker review of the console's start on Fabric (8e19f56): "caught up" is the stream reaching
 * the height the peer reported, or the stream quiet for 2 s. A channel writer (any bank, or the
 * coordinator) fills the channel with blocks that carry no veilsum event (another chaincode's
 * transactions, or veilsum transactions the peers invalidate: both are ordered into blocks). A
 * console started later reads the chain from block 0; while the peer scans those blocks its
 * event stream is quiet for more than 2 s, although the peer's height says far more is coming.
 * Expected on the code under review: start() returns with the ledger up to block 1 only, the
 * model version recorded at block 5000 missing, and no problem reported (this test FAILS).
 */

const HEIGHT = 5001;
const SCAN_MS = 2_600;

function scanningPeer(): FabricLedger {
  async function* events(options: { onOpen?: () => void }) {
    options.onOpen?.();
    yield {
      name: 'ModelVersionRecorded',
      payload: { modelHash: '11'.repeat(32), modelId: 'm', roundId: 'r1', recordedAt: 1 },
      blockNumber: 1n,
      transactionId: 'tx-1',
    };
    // Blocks 2..4999: no veilsum event (the flood); the peer reads them before block 5000's.
    await new Promise((resolve) => setTimeout(resolve, SCAN_MS));
    yield {
      name: 'ModelVersionRecorded',
      payload: { modelHash: '22'.repeat(32), modelId: 'm', roundId: 'r2', recordedAt: 2 },
      blockNumber: 5000n,
      transactionId: 'tx-5000',
    };
    await new Promise(() => {});
  }
  return {
    events,
    chainInfo: () => Promise.resolve({ height: HEIGHT, headHash: '00' }),
    peer: { name: 'peer0.bankc' },
    close: () => {},
  } as unknown as FabricLedger;
}

describe('review: console start on Fabric while its peer scans a flood of event-less blocks', () => {
  let directory: string;
  let tls: { ca: Buffer; certificate: Buffer; privateKey: Buffer };

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'review-catchup-'));
    const key = join(directory, 'k.pem');
    const cert = join(directory, 'c.pem');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    execFileSync('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-subj',
      '/CN=console',
      '-days',
      '2',
      '-out',
      cert,
    ]);
    tls = {
      ca: readFileSync(cert),
      certificate: readFileSync(cert),
      privateKey: readFileSync(key),
    };
  });

  afterAll(() => {
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it('does not serve block 1 of a 5001-block channel as the current ledger', async () => {
    const history = new FabricHistory(scanningPeer());
    const console_ = new ComplianceConsole({
      listen: '127.0.0.1:0',
      tls,
      ledger: {} as unknown as Ledger,
      history,
      ledgerDescription: 'fabric (review)',
    });
    try {
      await console_.start();
      const index = (
        console_ as unknown as { index: { height: number; modelVersions: Map<string, unknown> } }
      ).index;
      const problem = history.problem();
      // What an officer's first page would show: the ledger as of block `index.height`.
      // A sound start either waits for the reported height or says the view is partial.
      expect({ height: index.height, problem: problem !== undefined }).toEqual(
        expect.objectContaining(
          index.height >= HEIGHT - 1 ? { height: index.height } : { problem: true },
        ),
      );
      expect(index.modelVersions.has('22'.repeat(32))).toBe(true);
    } finally {
      await console_.stop();
    }
  }, 30_000);
});
