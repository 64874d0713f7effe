import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FabricEvidenceBuilder } from '../../services/console/fabric-evidence.ts';
import {
  block,
  configEnvelope,
  endorserTransaction,
  forgedLineage,
  issue,
  makeCa,
  type BuiltBlock,
  type Signer,
} from '../support/fabric-forge.ts';

/**
 * The console's Fabric export under load (officers with console certificates): K blocks × N
 * concurrent requests must not put K × N qscc GetBlockByNumber calls in flight on the console's
 * own peer (before the bound: 1075 in flight for K=40+, N=25). Block reads are bounded
 * (MAX_BLOCK_READS) and concurrent requests for the same model version and head share one build.
 */

const K = 40; // blocks the lineage's consents were written in (one bank consent per block)
const N = 25; // concurrent export requests
const BOUND = 4; // MAX_BLOCK_READS

describe("Fabric evidence export fan-out on the console's peer", () => {
  let directory: string;
  let blocks: BuiltBlock[];
  let lineage: ReturnType<typeof forgedLineage>['lineage'];

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-fanout-'));
    const ca = makeCa(directory, 'BankA');
    const ordererCa = makeCa(directory, 'Orderer');
    const orderer: Signer = {
      mspId: 'OrdererMSP',
      pki: issue(directory, ordererCa, '/O=o/OU=orderer/CN=o'),
    };
    const peer: Signer = { mspId: 'BankAMSP', pki: issue(directory, ca, '/O=a/OU=peer/CN=p') };
    const banks = Array.from({ length: K }, (_, i) => `Bank${i}MSP`);
    const forged = forgedLineage('33'.repeat(32), banks);
    lineage = forged.lineage;
    blocks = [
      block({
        number: 0,
        previousHash: '',
        envelopes: [
          configEnvelope('ch', [
            { mspId: 'OrdererMSP', roots: [ordererCa.cert], section: 'Orderer' },
          ]),
        ],
        orderer: undefined,
        lastConfig: 0,
      }),
    ];
    // One consent per block (model and round records in the last ones).
    for (const [i, write] of forged.writes.entries())
      blocks.push(
        block({
          number: i + 1,
          previousHash: blocks.at(-1)!.hash,
          envelopes: [
            endorserTransaction({
              channel: 'ch',
              txId: `${i}`.padStart(64, '0'),
              namespace: 'veilsum',
              writes: [write],
              creator: peer,
              endorsers: [peer],
            }),
          ],
          orderer,
          lastConfig: 0,
        }),
      );
  }, 120_000);

  afterAll(() => {
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it(`${N} concurrent exports of a lineage spread over ${K}+ blocks keep the peer's GetBlockByNumber calls bounded`, async () => {
    let inFlight = 0;
    let peak = 0;
    let calls = 0;
    const builder = new FabricEvidenceBuilder({
      channel: 'ch',
      chaincode: 'veilsum',
      height: () => Promise.resolve(blocks.length),
      blockBytes: async (number) => {
        calls++;
        inFlight++;
        peak = Math.max(peak, inFlight);
        // A peer round trip.
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        return blocks[number]!.bytes;
      },
    });
    // The first export reads the summaries (one block at a time, as the change intends).
    await builder.build('33'.repeat(32), [lineage]);
    const summaryCalls = calls;
    peak = 0;
    calls = 0;
    await Promise.all(Array.from({ length: N }, () => builder.build('33'.repeat(32), [lineage])));
    console.log(
      `first export: ${summaryCalls} block reads; then ${N} concurrent exports: ${calls} block reads, peak ${peak} in flight`,
    );
    expect(peak).toBeLessThanOrEqual(BOUND);
    // One build shared by the 25 requests: each block read once, not 25 times.
    expect(calls).toBeLessThanOrEqual(blocks.length);
  }, 60_000);
});
