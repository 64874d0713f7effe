import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  verifyFabricEvidenceBundle,
  type FabricEvidenceBundle,
  type FabricTrust,
} from '../../services/console/fabric-evidence.ts';
import type { Lineage } from '../../ledger/records.ts';
import { fabricEvidenceFixture, veilsumCli } from '../support/fabric-console-consortium.ts';
import {
  block,
  bundleOf,
  configEnvelope,
  endorserTransaction,
  issue,
  type Pki,
  type Signer,
} from '../support/fabric-forge.ts';
import { pinnedCaFiles, TEST_BANKS, useFabricTestNetwork } from './fabric-network-fixture.ts';

/**
 * On a real network: one bank (BankA), holding only its own cryptogen CA key, forges a Fabric
 * evidence bundle for the consortium's real model version with a lineage that differs from the
 * ledger's (BankB's consent on another dataset, another aggregate); the regulator runs
 * `veilsum audit verify-bundle` pinning each organisation's CA by MSP id and role, as
 * test/ledger/fabric-evidence.test.ts does. The forgery is refused: the forged genesis gives
 * the orderer's MSP a root the auditor did not pin for it.
 */
jest.setTimeout(300_000);

const MODEL = 'fabric-forgery-model';
const running = useFabricTestNetwork(1700);

describe('a bank forges a Fabric evidence bundle with its own CA key: verify-bundle refuses it', () => {
  let directory: string;
  let get: (path: string) => Promise<{ status: number; body: Buffer }>;
  let modelHash: string;
  let real: FabricEvidenceBundle;
  let pinnedArgs: string[];
  let trust: FabricTrust;
  let bankACa: Pki;
  const closing: (() => unknown)[] = [];

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-fabric-forgery-'));
    let files: ReturnType<typeof pinnedCaFiles>;
    ({ modelHash, get, trust, pinnedArgs, files } = await fabricEvidenceFixture(
      running(),
      directory,
      MODEL,
      5,
      closing,
    ));
    // BankA's own CA: its certificate (pinned by the regulator as BankA's CA) and its key,
    // which BankA holds (cryptogen's ca/ folder).
    const certFile = files.banks.BankAMSP!;
    const keyFile = readdirSync(dirname(certFile)).find((file) => !file.endsWith('.pem'))!;
    const cert = readFileSync(certFile, 'utf8');
    bankACa = {
      cert,
      key: readFileSync(join(dirname(certFile), keyFile), 'utf8'),
      x509: new X509Certificate(cert),
    };
  }, 600_000);

  afterAll(async () => {
    for (const close of closing.reverse()) await close();
    if (directory) rmSync(directory, { recursive: true, force: true });
  }, 60_000);

  it('control: the console exports the real bundle and it verifies against the pinned CAs', async () => {
    const exported = await get(`/export/${modelHash}.json`);
    expect(exported.status).toBe(200);
    real = JSON.parse(exported.body.toString('utf8')) as FabricEvidenceBundle;
    expect(verifyFabricEvidenceBundle(real, trust).rounds).toBe(1);
  });

  it("BankA, with only its own CA key, forges the channel's genesis and blocks for the real model version with an altered lineage: refused", async () => {
    expect(real).toBeDefined();
    const channel = real.channel;
    const chaincode = real.chaincode;
    // The lineage BankA wants the regulator to see: BankB's consent on another dataset, the
    // round's aggregate replaced.
    const original = real.lineage[0]!;
    const consents = original.contributions.map(({ memberId, consent }) => ({
      memberId,
      consent:
        memberId === 'BankBMSP' ? { ...consent, datasetId: 'BankBMSP-all-customers' } : consent,
    }));
    const round = { ...original.round, aggregateHash: '00'.repeat(32) };
    const lineage = { ...original, round, contributions: consents } as Lineage;
    const writes = [
      { key: `model/${modelHash}`, value: JSON.stringify(lineage.modelVersion) },
      { key: `round/${round.roundId}`, value: JSON.stringify(round) },
      ...consents.map(({ consent }) => ({
        key: `consent/${consent.consentId}`,
        value: JSON.stringify(consent),
      })),
    ];
    // Every identity minted by BankA's CA; the genesis config says that CA is every MSP's root.
    const ordererMsp = real.msps.find((msp) => msp.orderer)!.mspId;
    const minted = (mspId: string, ou: string, cn: string): Signer => ({
      mspId,
      pki: issue(directory, bankACa, `/O=${mspId}/OU=${ou}/CN=${cn}`),
    });
    const genesis = block({
      number: 0,
      previousHash: '',
      envelopes: [
        configEnvelope(channel, [
          { mspId: ordererMsp, roots: [bankACa.cert], section: 'Orderer' },
          ...TEST_BANKS.map((mspId) => ({
            mspId,
            roots: [bankACa.cert],
            section: 'Application' as const,
            anchorPeers: true,
          })),
        ]),
      ],
      orderer: undefined,
      lastConfig: 0,
    });
    const forged = block({
      number: 1,
      previousHash: genesis.hash,
      envelopes: [
        endorserTransaction({
          channel,
          txId: 'f0'.repeat(32),
          namespace: chaincode,
          writes,
          creator: minted('BankBMSP', 'client', 'User1@bankbmsp'),
          endorsers: [minted('BankBMSP', 'peer', 'peer0'), minted('BankCMSP', 'peer', 'peer0')],
        }),
      ],
      orderer: minted(ordererMsp, 'orderer', 'orderer0'),
      lastConfig: 0,
    });
    const bundle = bundleOf({
      channel,
      chaincode,
      modelHash,
      blocks: [genesis, forged],
      lineage: [lineage],
    });
    const file = join(directory, 'forged.json');
    writeFileSync(file, JSON.stringify(bundle));
    const result = await veilsumCli(['audit', 'verify-bundle', file, ...pinnedArgs]);
    // Before per-MSP pinning: "evidence bundle verified: model version 0505…, 1 rounds, …".
    expect(result.stdout).not.toMatch(/evidence bundle verified/);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `NOT verified: block 0: the config gives (BankBMSP|BankCMSP|${ordererMsp}) root CAs other than the ones the auditor pins`,
      ),
    );
  }, 120_000);
});
