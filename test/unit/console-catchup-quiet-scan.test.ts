import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FabricLedger } from '../../ledger/fabric/fabric-ledger.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import { ComplianceConsole } from '../../services/console/console-server.ts';
import { FabricHistory } from '../../services/console/ledger-history.ts';
import { block } from '../support/fabric-forge.ts';

/**
 * The console's start on Fabric while its peer scans a flood: a channel writer (any bank, or the
 * coordinator) fills the channel with blocks that carry no veilsum event (another chaincode's
 * transactions, or veilsum transactions the peers invalidate: both are ordered into blocks). A
 * console started later reads the chain from block 0; while the peer scans those blocks its
 * event stream is quiet for more than 2 s, although the peer's height says far more is coming.
 * "Quiet for 2 s" once counted as caught up: start() returned with the ledger up to block 1,
 * the model version recorded at block 5000 missing, and no problem reported. Now a quiet stream
 * counts only once the blocks after the last one received are read from the peer and hold no
 * transaction of the contract (here the peer cannot be read block by block: the console waits).
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

describe('console start on Fabric while its peer scans a flood of event-less blocks', () => {
  let directory: string;
  let tls: { ca: Buffer; certificate: Buffer; privateKey: Buffer };

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-catchup-'));
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

  /** A console on `history`, started (start() returns once it counts as caught up), then `check`. */
  async function started(
    history: FabricHistory,
    check: (console_: ComplianceConsole) => void,
  ): Promise<void> {
    const console_ = new ComplianceConsole({
      listen: '127.0.0.1:0',
      tls,
      ledger: {} as unknown as Ledger,
      history,
      ledgerDescription: 'fabric (test)',
    });
    try {
      await console_.start();
      check(console_);
    } finally {
      await console_.stop();
    }
  }

  afterAll(() => {
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it('a quiet stream counts as caught up once the blocks after it, read from the peer, hold no transaction of the contract', async () => {
    let reads = 0;
    const fabric = {
      async *events(options: { onOpen?: () => void }) {
        options.onOpen?.();
        yield {
          name: 'ModelVersionRecorded',
          payload: { modelHash: '11'.repeat(32), modelId: 'm', roundId: 'r1', recordedAt: 1 },
          blockNumber: 1n,
          transactionId: 'tx-1',
        };
        await new Promise(() => {});
      },
      chainInfo: () => Promise.resolve({ height: 4, headHash: '00' }),
      // Blocks 2 and 3: no transaction at all (another channel member's empty config, say).
      blockBytes: (number: number) => {
        reads++;
        return Promise.resolve(
          block({ number, previousHash: '00', envelopes: [], orderer: undefined, lastConfig: 0 })
            .bytes,
        );
      },
      chaincodeName: 'veilsum',
      peer: { name: 'peer0.bankc' },
      close: () => {},
    } as unknown as FabricLedger;
    const history = new FabricHistory(fabric);
    await started(history, () => {
      expect(reads).toBe(2);
      expect(history.problem()).toBeUndefined();
    });
  }, 30_000);

  it('does not serve block 1 of a 5001-block channel as the current ledger', async () => {
    const history = new FabricHistory(scanningPeer());
    await started(history, (console_) => {
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
    });
  }, 30_000);
});
