import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign, type X509Certificate } from 'node:crypto';
import { signatureProblem, type ChannelMsp } from '../../ledger/fabric/fabric-blocks.ts';
import {
  verifyFabricEvidenceBundle,
  type FabricEvidenceBundle,
  type FabricTrust,
} from '../../services/console/fabric-evidence.ts';
import { buildTrustProfile } from '../../ledger/fabric/fabric-trust-profile.ts';
import {
  block,
  bundleOf,
  configEnvelope,
  endorserTransaction,
  forgedLineage,
  issue,
  makeCa,
  revoke,
  type BuiltBlock,
  type Pki,
  type Signer,
} from '../support/fabric-forge.ts';

/**
 * Forgeries of Fabric evidence bundles against `veilsum audit verify-bundle`: the auditor pins
 * each MSP's CA by MSP id and role (--orderer, --bank), the channel and the chaincode. Each test
 * builds Fabric blocks byte for byte, as a bank holding only its own CA key can, and hands them
 * to the verifier (and the CLI): each forgery must be refused.
 */

const MODEL = '99'.repeat(32);
const CHANNEL = 'mychannel';
const CHAINCODE = 'veilsum';

describe('verify-bundle takes nothing on trust from the bundle itself', () => {
  let directory: string;
  let ordererCa: Pki;
  let bankCas: Record<'BankAMSP' | 'BankBMSP' | 'BankCMSP', Pki>;
  /** Every pinned CA (for signatureProblem's path checks). */
  let trusted: X509Certificate[];
  /** What the regulator pins: the orderer organisation's CA and each bank's CA, by MSP id. */
  let trust: FabricTrust;

  const verify = (bundle: FabricEvidenceBundle) =>
    verifyFabricEvidenceBundle(JSON.parse(JSON.stringify(bundle)) as FabricEvidenceBundle, trust);

  /** `veilsum audit verify-bundle <file>` with the regulator's pins (default: one flag each). */
  const cli = (
    file: string,
    pins: readonly string[] = [
      '--channel',
      CHANNEL,
      '--orderer',
      `OrdererMSP=${join(directory, 'OrdererOrg.pem')}`,
      ...['A', 'B', 'C'].flatMap((x) => [
        '--bank',
        `Bank${x}MSP=${join(directory, `Bank${x}.pem`)}`,
      ]),
    ],
  ): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) =>
      execFile(
        process.execPath,
        ['cli/veilsum.ts', 'audit', 'verify-bundle', file, ...pins],
        (error, stdout, stderr) =>
          resolve({ code: error ? ((error.code as number) ?? 1) : 0, stdout, stderr }),
      ),
    );

  /** The channel as it really is: an orderer org and three banks, each under its own CA. */
  let honest: {
    orderer: Signer;
    peers: Record<string, Signer>;
    clients: Record<string, Signer>;
    genesis: BuiltBlock;
  };

  /** The real channel's config: the orderer org and the three banks under their own CAs. */
  const honestGenesisEnvelopes = () => [
    configEnvelope(CHANNEL, [
      { mspId: 'OrdererMSP', roots: [ordererCa.cert], section: 'Orderer' },
      ...Object.entries(bankCas).map(([mspId, ca]) => ({
        mspId,
        roots: [ca.cert],
        section: 'Application' as const,
        anchorPeers: true,
      })),
    ]),
  ];

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-fabric-forge-'));
    ordererCa = makeCa(directory, 'OrdererOrg');
    bankCas = {
      BankAMSP: makeCa(directory, 'BankA'),
      BankBMSP: makeCa(directory, 'BankB'),
      BankCMSP: makeCa(directory, 'BankC'),
    };
    trusted = [ordererCa.x509, ...Object.values(bankCas).map((ca) => ca.x509)];
    trust = {
      channel: CHANNEL,
      chaincode: CHAINCODE,
      orderers: { OrdererMSP: [ordererCa.x509] },
      banks: Object.fromEntries(Object.entries(bankCas).map(([mspId, ca]) => [mspId, [ca.x509]])),
    };
    const peers: Record<string, Signer> = {};
    const clients: Record<string, Signer> = {};
    for (const [mspId, ca] of Object.entries(bankCas)) {
      peers[mspId] = { mspId, pki: issue(directory, ca, `/O=${mspId}/OU=peer/CN=peer0`) };
      clients[mspId] = { mspId, pki: issue(directory, ca, `/O=${mspId}/OU=client/CN=User1`) };
    }
    const orderer = {
      mspId: 'OrdererMSP',
      pki: issue(directory, ordererCa, '/O=OrdererOrg/OU=orderer/CN=orderer0'),
    };
    const genesis = block({
      number: 0,
      previousHash: '',
      envelopes: honestGenesisEnvelopes(),
      orderer: undefined,
      lastConfig: 0,
    });
    honest = { orderer, peers, clients, genesis };
  }, 120_000);

  afterAll(() => {
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  /** The lineage in one block the real orderer signed on the real channel, and its transaction. */
  const honestBundle = () => {
    const { lineage, writes } = forgedLineage(MODEL, ['BankAMSP', 'BankBMSP', 'BankCMSP']);
    const tx = endorserTransaction({
      channel: CHANNEL,
      txId: 'aa'.repeat(32),
      namespace: CHAINCODE,
      writes,
      creator: honest.clients.BankAMSP!,
      endorsers: [honest.peers.BankAMSP!, honest.peers.BankBMSP!],
    });
    const real = block({
      number: 1,
      previousHash: honest.genesis.hash,
      envelopes: [tx],
      orderer: honest.orderer,
      lastConfig: 0,
    });
    const bundle = bundleOf({
      channel: CHANNEL,
      chaincode: CHAINCODE,
      modelHash: MODEL,
      blocks: [honest.genesis, real],
      lineage: [lineage],
    });
    return { bundle, tx, lineage };
  };

  it('an honest chain verifies; the same lineage in a block a bank signed as "orderer" under the real genesis is refused', () => {
    const { bundle: ok, tx, lineage } = honestBundle();
    expect(verify(ok).transactions).toBe(1);
    // BankA signs the block with an "orderer" certificate from its own CA: refused under the
    // real genesis config (OrdererMSP's root is the orderer org's CA).
    const bankAsOrderer = {
      mspId: 'OrdererMSP',
      pki: issue(directory, bankCas.BankAMSP, '/O=OrdererOrg/OU=orderer/CN=orderer0'),
    };
    const forged = block({
      number: 1,
      previousHash: honest.genesis.hash,
      envelopes: [tx],
      orderer: bankAsOrderer,
      lastConfig: 0,
    });
    const forgedBundle = bundleOf({
      channel: CHANNEL,
      chaincode: CHAINCODE,
      modelHash: MODEL,
      blocks: [honest.genesis, forged],
      lineage: [lineage],
    });
    expect(() => verify(forgedBundle)).toThrow(
      /orderer signature: OrdererMSP's signer .* is not issued by OrdererMSP's CA/,
    );
  });

  it("refuses a channel one bank forged with its own CA key (its genesis config names its CA as every MSP's root, the orderer's included): the roots must be the ones pinned per MSP id", async () => {
    const bankA = bankCas.BankAMSP;
    // Everything below is minted by BankA's CA, which the regulator pins as a bank's CA.
    const fakeOrderer: Signer = {
      mspId: 'OrdererMSP',
      pki: issue(directory, bankA, '/O=OrdererOrg/OU=orderer/CN=orderer0.example.com'),
    };
    const fakePeer = (mspId: string): Signer => ({
      mspId,
      pki: issue(directory, bankA, `/O=${mspId}/OU=peer/CN=peer0.${mspId.toLowerCase()}`),
    });
    const fakeClient: Signer = {
      mspId: 'BankBMSP',
      pki: issue(directory, bankA, '/O=BankBMSP/OU=client/CN=User1@bankb'),
    };
    const genesis = block({
      number: 0,
      previousHash: '',
      envelopes: [
        configEnvelope(CHANNEL, [
          { mspId: 'OrdererMSP', roots: [bankA.cert], section: 'Orderer' },
          ...['BankAMSP', 'BankBMSP', 'BankCMSP'].map((mspId) => ({
            mspId,
            roots: [bankA.cert],
            section: 'Application' as const,
            anchorPeers: true,
          })),
        ]),
      ],
      orderer: undefined,
      lastConfig: 0,
    });
    // BankB and BankC "consented" and "endorsed": a lineage none of them ever wrote.
    const { lineage, writes } = forgedLineage(MODEL, ['BankAMSP', 'BankBMSP', 'BankCMSP']);
    const forged = block({
      number: 1,
      previousHash: genesis.hash,
      envelopes: [
        endorserTransaction({
          channel: CHANNEL,
          txId: 'bb'.repeat(32),
          namespace: CHAINCODE,
          writes,
          creator: fakeClient,
          endorsers: [fakePeer('BankBMSP'), fakePeer('BankCMSP')],
        }),
      ],
      orderer: fakeOrderer,
      lastConfig: 0,
    });
    const bundle = bundleOf({
      channel: CHANNEL,
      chaincode: CHAINCODE,
      modelHash: MODEL,
      blocks: [genesis, forged],
      lineage: [lineage],
    });
    // The CLI, as the regulator runs it with the CAs it pins, must not say "verified".
    // Before per-MSP pinning it printed "evidence bundle verified: model version 9999…,
    // 1 rounds, 2 signed blocks, …" and exits 0.
    const file = join(directory, 'forged-by-bank-a.json');
    writeFileSync(file, JSON.stringify(bundle));
    const result = await cli(file);
    expect(result.stdout).not.toMatch(/evidence bundle verified/);
    expect(result.code).toBe(1);
    // A sound verifier refuses: the orderer's signature must chain to the orderer org's CA
    // (or the channel's genesis block must be one the auditor pins), not to any pinned CA.
    expect(() => verify(bundle)).toThrow(/orderer|genesis|config/);
  }, 60_000);

  it('refuses an unsigned head: a "genesis" block 0 holding a config envelope and then endorser transactions', async () => {
    const bankA = bankCas.BankAMSP;
    const fakePeer = (mspId: string): Signer => ({
      mspId,
      pki: issue(directory, bankA, `/O=${mspId}/OU=peer/CN=peer1.${mspId.toLowerCase()}`),
    });
    const { lineage, writes } = forgedLineage(MODEL, ['BankAMSP', 'BankBMSP', 'BankCMSP']);
    const genesis = block({
      number: 0,
      previousHash: '',
      envelopes: [
        configEnvelope(CHANNEL, [
          // The real orderer org, with its real CA: untouched, and never asked to sign.
          { mspId: 'OrdererMSP', roots: [ordererCa.cert], section: 'Orderer' },
          ...['BankAMSP', 'BankBMSP', 'BankCMSP'].map((mspId) => ({
            mspId,
            roots: [bankA.cert],
            section: 'Application' as const,
            anchorPeers: true,
          })),
        ]),
        endorserTransaction({
          channel: CHANNEL,
          txId: 'ab'.repeat(32),
          namespace: CHAINCODE,
          writes,
          creator: {
            mspId: 'BankBMSP',
            pki: issue(directory, bankA, '/O=BankBMSP/OU=client/CN=u'),
          },
          endorsers: [fakePeer('BankBMSP'), fakePeer('BankCMSP')],
        }),
      ],
      orderer: undefined,
      lastConfig: 0,
    });
    const bundle = bundleOf({
      channel: CHANNEL,
      chaincode: CHAINCODE,
      modelHash: MODEL,
      blocks: [genesis],
      lineage: [lineage],
    });
    // Before the head had to be orderer-signed the CLI said "…, 1 rounds, 1 signed blocks, chain of 0 blocks
    // to its head, …" and exits 0: no orderer signed anything.
    const file = join(directory, 'unsigned-genesis.json');
    writeFileSync(file, JSON.stringify(bundle));
    const result = await cli(file);
    expect(result.stdout).not.toMatch(/evidence bundle verified/);
    // A sound verifier requires an orderer-signed head (and a genesis the auditor pins).
    expect(() => verify(bundle)).toThrow(/orderer|genesis|sign/);
  }, 60_000);

  it('block 0 holds one config envelope and nothing else counts from it; the pinned genesis hash is checked; an unpinned MSP in the config is refused', () => {
    const { lineage, writes } = forgedLineage(MODEL, ['BankAMSP', 'BankBMSP', 'BankCMSP']);
    const tx = (txId: string) =>
      endorserTransaction({
        channel: CHANNEL,
        txId,
        namespace: CHAINCODE,
        writes,
        creator: honest.clients.BankAMSP!,
        endorsers: [honest.peers.BankAMSP!, honest.peers.BankBMSP!],
      });
    const withExtra = block({
      number: 0,
      previousHash: '',
      envelopes: [...honestGenesisEnvelopes(), tx('e1'.repeat(32))],
      orderer: undefined,
      lastConfig: 0,
    });
    const signedHead = (genesis: BuiltBlock, envelopes: Uint8Array[]) =>
      block({
        number: 1,
        previousHash: genesis.hash,
        envelopes,
        orderer: honest.orderer,
        lastConfig: 0,
      });
    const ofBlocks = (blocks: BuiltBlock[]) =>
      bundleOf({
        channel: CHANNEL,
        chaincode: CHAINCODE,
        modelHash: MODEL,
        blocks,
        lineage: [lineage],
      });
    // The records written in block 0 (which no orderer signs), under an orderer-signed head.
    expect(() => verify(ofBlocks([withExtra, signedHead(withExtra, [])]))).toThrow(
      'block 0: the genesis block must hold exactly one config transaction and nothing else',
    );
    // The genesis hash pinned: a chain from another genesis is refused, the real one verifies.
    const honestBundle = ofBlocks([
      honest.genesis,
      signedHead(honest.genesis, [tx('e2'.repeat(32))]),
    ]);
    expect(verify(honestBundle).transactions).toBe(1);
    expect(() =>
      verifyFabricEvidenceBundle(honestBundle, { ...trust, genesis: withExtra.hash }),
    ).toThrow(/block 0: its hash [0-9a-f]{64} is not the channel's genesis block/);
    expect(
      verifyFabricEvidenceBundle(honestBundle, { ...trust, genesis: honest.genesis.hash })
        .signedBlocks,
    ).toBe(1);
    // A bank pinned as a bank signs no block, even with an orderer-OU certificate from its CA.
    const bankSigned = block({
      number: 1,
      previousHash: honest.genesis.hash,
      envelopes: [tx('e3'.repeat(32))],
      orderer: {
        mspId: 'BankAMSP',
        pki: issue(directory, bankCas.BankAMSP, '/O=BankAMSP/OU=orderer/CN=o'),
      },
      lastConfig: 0,
    });
    expect(() => verify(ofBlocks([honest.genesis, bankSigned]))).toThrow(
      'block 1: orderer signature: signed by BankAMSP, not an orderer organisation the auditor names',
    );
    // An MSP the auditor did not pin, in the config in force: refused by name.
    const { BankCMSP: _dropped, ...twoBanks } = trust.banks;
    expect(() => verifyFabricEvidenceBundle(honestBundle, { ...trust, banks: twoBanks })).toThrow(
      'block 0: the config names MSP BankCMSP, whose CA the auditor does not pin',
    );
  });

  it("refuses blocks the real orderer signed for another channel (BankA's sandbox, where it is the only bank): every envelope's channel id is the pinned channel", () => {
    // The same ordering service serves a second channel whose config BankA wrote: one bank.
    const sandboxGenesis = block({
      number: 0,
      previousHash: '',
      envelopes: [
        configEnvelope('banka-sandbox', [
          { mspId: 'OrdererMSP', roots: [ordererCa.cert], section: 'Orderer' },
          {
            mspId: 'BankAMSP',
            roots: [bankCas.BankAMSP.cert],
            section: 'Application',
            anchorPeers: true,
          },
        ]),
      ],
      orderer: undefined,
      lastConfig: 0,
    });
    const { lineage, writes } = forgedLineage(MODEL, ['BankAMSP', 'BankBMSP', 'BankCMSP']);
    const sandboxBlock = block({
      number: 1,
      previousHash: sandboxGenesis.hash,
      envelopes: [
        endorserTransaction({
          channel: 'banka-sandbox',
          txId: 'cc'.repeat(32),
          namespace: CHAINCODE,
          writes,
          creator: honest.clients.BankAMSP!,
          endorsers: [honest.peers.BankAMSP!],
        }),
      ],
      // Signed by the real orderer (its real certificate), as it signs every channel's blocks.
      orderer: honest.orderer,
      lastConfig: 0,
    });
    const bundle = bundleOf({
      channel: CHANNEL, // what the bundle claims
      chaincode: CHAINCODE,
      modelHash: MODEL,
      blocks: [sandboxGenesis, sandboxBlock],
      lineage: [lineage],
    });
    // A sound verifier refuses: the envelopes' channel id is not the bundle's channel (and the
    // channel's banks are not the consortium's: "1 of 1 banks" is no majority of the consortium).
    expect(() => verify(bundle)).toThrow(/channel/);
  });

  it("counts only the pinned chaincode's writes: records written under another chaincode's namespace (a generic key-value contract) are refused", () => {
    const { lineage, writes } = forgedLineage(MODEL, ['BankAMSP', 'BankBMSP', 'BankCMSP']);
    // Peers endorse whatever a generic put-key chaincode simulates: a majority endorses.
    const kvBlock = block({
      number: 1,
      previousHash: honest.genesis.hash,
      envelopes: [
        endorserTransaction({
          channel: CHANNEL,
          txId: 'dd'.repeat(32),
          namespace: 'kvstore',
          writes,
          creator: honest.clients.BankAMSP!,
          endorsers: [honest.peers.BankAMSP!, honest.peers.BankBMSP!],
        }),
      ],
      orderer: honest.orderer,
      lastConfig: 0,
    });
    const asVeilsum = bundleOf({
      channel: CHANNEL,
      chaincode: CHAINCODE,
      modelHash: MODEL,
      blocks: [honest.genesis, kvBlock],
      lineage: [lineage],
    });
    // Under veilsum's namespace nothing wrote the records (refused, as it should be) ...
    expect(() => verify(asVeilsum)).toThrow(/no block in the bundle wrote/);
    // ... but the bundle names the namespace itself: a sound verifier pins it (--chaincode).
    expect(() => verify({ ...asVeilsum, chaincode: 'kvstore' })).toThrow(/chaincode|namespace/);
  });

  it('ties the model version to the lineage: another model hash, or an empty lineage, is refused', async () => {
    const { lineage, writes } = forgedLineage(MODEL, ['BankAMSP', 'BankBMSP', 'BankCMSP']);
    const real = block({
      number: 1,
      previousHash: honest.genesis.hash,
      envelopes: [
        endorserTransaction({
          channel: CHANNEL,
          txId: 'ee'.repeat(32),
          namespace: CHAINCODE,
          writes,
          creator: honest.clients.BankAMSP!,
          endorsers: [honest.peers.BankAMSP!, honest.peers.BankBMSP!],
        }),
      ],
      orderer: honest.orderer,
      lastConfig: 0,
    });
    const other = '77'.repeat(32); // a model version the ledger never recorded
    const bundle = bundleOf({
      channel: CHANNEL,
      chaincode: CHAINCODE,
      modelHash: other,
      blocks: [honest.genesis, real],
      lineage: [],
    });
    const file = join(directory, 'empty-lineage.json');
    writeFileSync(file, JSON.stringify(bundle));
    const result = await cli(file);
    // Before the lineage was tied to the model version: "evidence bundle verified: model version 7777…, 0 rounds".
    expect(result.stdout).not.toMatch(/evidence bundle verified: model version 7777/);
    // The lineage of MODEL presented as the evidence for `other` verifies too.
    expect(() => verify({ ...bundle, lineage: [lineage] })).toThrow(
      /^model version 7{64}: the bundle's lineage does not end with it/,
    );
    // An earlier version of the model may precede it (the export's lineage is every version up
    // to the chosen one), each once and recorded no later; the same version twice is refused.
    expect(() => verify({ ...bundle, modelHash: MODEL, lineage: [lineage, lineage] })).toThrow(
      /not an earlier version of model review-model/,
    );
    expect(verify({ ...bundle, modelHash: MODEL, lineage: [lineage] }).rounds).toBe(1);
  }, 60_000);

  it("refuses a lineage whose genuine records do not belong together: the model version's round is r1, the bundle shows round r2 and drops a contribution", () => {
    const { lineage, writes } = forgedLineage(MODEL, ['BankAMSP', 'BankBMSP', 'BankCMSP']);
    // Another genuine round on the same ledger (an earlier, smaller one).
    const r2 = {
      ...lineage.round,
      roundId: 'round-2',
      roster: ['BankAMSP', 'BankBMSP'],
      included: ['BankAMSP', 'BankBMSP'],
    };
    const chainBlock = block({
      number: 1,
      previousHash: honest.genesis.hash,
      envelopes: [
        endorserTransaction({
          channel: CHANNEL,
          txId: 'a1'.repeat(32),
          namespace: CHAINCODE,
          writes: [...writes, { key: 'round/round-2', value: JSON.stringify(r2) }],
          creator: honest.clients.BankAMSP!,
          endorsers: [honest.peers.BankAMSP!, honest.peers.BankBMSP!],
        }),
      ],
      orderer: honest.orderer,
      lastConfig: 0,
    });
    const mixed = {
      ...lineage,
      round: r2,
      contributions: lineage.contributions.filter((c) => c.memberId !== 'BankCMSP'),
    };
    const bundle = bundleOf({
      channel: CHANNEL,
      chaincode: CHAINCODE,
      modelHash: MODEL,
      blocks: [honest.genesis, chainBlock],
      lineage: [mixed],
    });
    // modelVersion.roundId is forged-round-1; the bundle's round is round-2. A sound verifier
    // checks the lineage is the model version's: its round, and that round's consents.
    expect(() => verify(bundle)).toThrow(/round/);
  });

  it("refuses blocks signed with an orderer certificate on its MSP's revocation list (a stolen, decommissioned node's)", () => {
    const stolen: Signer = {
      mspId: 'OrdererMSP',
      pki: issue(directory, ordererCa, '/O=OrdererOrg/OU=orderer/CN=orderer9-decommissioned'),
    };
    const crl = revoke(directory, ordererCa, [stolen.pki]);
    const genesis = block({
      number: 0,
      previousHash: '',
      envelopes: [
        configEnvelope(CHANNEL, [
          {
            mspId: 'OrdererMSP',
            roots: [ordererCa.cert],
            section: 'Orderer',
            revocationList: [crl],
          },
          ...Object.entries(bankCas).map(([mspId, ca]) => ({
            mspId,
            roots: [ca.cert],
            section: 'Application' as const,
            anchorPeers: true,
          })),
        ]),
      ],
      orderer: undefined,
      lastConfig: 0,
    });
    const { lineage, writes } = forgedLineage(MODEL, ['BankAMSP', 'BankBMSP', 'BankCMSP']);
    const forged = block({
      number: 1,
      previousHash: genesis.hash,
      envelopes: [
        endorserTransaction({
          channel: CHANNEL,
          txId: 'c1'.repeat(32),
          namespace: CHAINCODE,
          writes,
          creator: honest.clients.BankAMSP!,
          endorsers: [honest.peers.BankAMSP!, honest.peers.BankBMSP!],
        }),
      ],
      orderer: stolen,
      lastConfig: 0,
    });
    const bundle = bundleOf({
      channel: CHANNEL,
      chaincode: CHAINCODE,
      modelHash: MODEL,
      blocks: [genesis, forged],
      lineage: [lineage],
    });
    // Fabric's peers refuse a block signed by a revoked orderer certificate; so should this.
    expect(() => verify(bundle)).toThrow(/revoked/);
  });

  it('refuses an end-entity certificate (CA:FALSE, no keyUsage) from a pinned CA as an intermediate issuer of orderer and peer certificates', () => {
    // E.g. a BankA TLS or application certificate without a keyUsage extension, and its key.
    const endEntity = issue(directory, bankCas.BankAMSP, '/O=BankAMSP/OU=client/CN=app-server', [
      'basicConstraints=critical,CA:FALSE',
    ]);
    const minted = (mspId: string, subject: string): Signer => ({
      mspId,
      pki: issue(directory, endEntity, subject),
    });
    const fakeOrderer = minted('OrdererMSP', '/O=OrdererOrg/OU=orderer/CN=orderer0');
    const msps = new Map<string, ChannelMsp>([
      [
        'OrdererMSP',
        {
          mspId: 'OrdererMSP',
          rootCertificates: [bankCas.BankAMSP.cert],
          intermediateCertificates: [endEntity.cert],
          hasPeers: false,
          orderer: true,
          nodeOus: { peer: 'peer', orderer: 'orderer' },
        },
      ],
    ]);
    const signed = Buffer.from('value | signature header | block header');
    const problem = signatureProblem(
      {
        signer: {
          mspId: 'OrdererMSP',
          certificate: fakeOrderer.pki.cert,
          serialized: new Uint8Array(),
        },
        signed,
        signature: sign('sha256', signed, fakeOrderer.pki.key),
      },
      msps,
      trusted,
      'orderer',
    );
    // Fabric (and RFC 5280) refuse an issuer that is not a CA (basicConstraints CA:FALSE).
    expect(problem).toMatch(/not issued|intermediate|CA/);
  });

  it('refuses a cryptogen-style end-entity certificate (keyUsage digitalSignature) as an issuer', () => {
    const endEntity = issue(directory, bankCas.BankAMSP, '/O=BankAMSP/OU=client/CN=User2', [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
    ]);
    const leaf = issue(directory, endEntity, '/O=OrdererOrg/OU=orderer/CN=orderer0');
    const msps = new Map<string, ChannelMsp>([
      [
        'OrdererMSP',
        {
          mspId: 'OrdererMSP',
          rootCertificates: [bankCas.BankAMSP.cert],
          intermediateCertificates: [endEntity.cert],
          hasPeers: false,
          orderer: true,
          nodeOus: { peer: 'peer', orderer: 'orderer' },
        },
      ],
    ]);
    const signed = Buffer.from('x');
    expect(
      signatureProblem(
        {
          signer: { mspId: 'OrdererMSP', certificate: leaf.cert, serialized: new Uint8Array() },
          signed,
          signature: sign('sha256', signed, leaf.key),
        },
        msps,
        trusted,
        'orderer',
      ),
    ).toMatch(/is not issued by OrdererMSP's CA/);
  });

  it('a client certificate whose CN smuggles "\\nOU=peer" is no peer (Node escapes the newline)', () => {
    const smuggler: Signer = {
      mspId: 'BankAMSP',
      pki: issue(directory, bankCas.BankAMSP, '/O=BankAMSP/OU=client/CN=alice\nOU=peer'),
    };
    expect(smuggler.pki.x509.subject).toContain('\\0AOU=peer');
    const msps = new Map<string, ChannelMsp>([
      [
        'BankAMSP',
        {
          mspId: 'BankAMSP',
          rootCertificates: [bankCas.BankAMSP.cert],
          intermediateCertificates: [],
          hasPeers: true,
          orderer: false,
          nodeOus: { peer: 'peer', orderer: 'orderer' },
        },
      ],
    ]);
    const signed = Buffer.from('endorsed bytes');
    const problem = signatureProblem(
      {
        signer: { mspId: 'BankAMSP', certificate: smuggler.pki.cert, serialized: new Uint8Array() },
        signed,
        signature: sign('sha256', signed, smuggler.pki.key),
      },
      msps,
      trusted,
      'peer',
    );
    expect(problem).toMatch(/is not a peer/);
  });
  it("takes the pins from the consortium's trust profile: the honest chain verifies; a profile from another genesis, a leaf certificate as a CA, one MSP in two roles, a missing field or the profile beside single pins are refused, naming why", async () => {
    const bundleFile = join(directory, 'honest.json');
    writeFileSync(bundleFile, JSON.stringify(honestBundle().bundle));
    const pems = (record: Record<string, Pki>) =>
      Object.fromEntries(Object.entries(record).map(([mspId, ca]) => [mspId, ca.cert]));
    const profile = buildTrustProfile({
      channel: CHANNEL,
      chaincode: CHAINCODE,
      genesisBlock: honest.genesis.bytes,
      orderers: pems({ OrdererMSP: ordererCa }),
      banks: pems(bankCas),
      others: {},
    });
    expect(profile.genesis).toBe(honest.genesis.hash);
    const run = async (name: string, content: unknown, extra: string[] = []) => {
      const file = join(directory, name);
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      return cli(bundleFile, ['--profile', file, ...extra]);
    };
    const good = await run('profile.json', profile);
    expect(good.stdout).toMatch(/^evidence bundle verified: model version 9{64}, 1 rounds/);
    expect(good.code).toBe(0);

    // Another channel's genesis (a sandbox BankA set up): the chain does not start there.
    const sandbox = block({
      number: 0,
      previousHash: '',
      envelopes: [
        configEnvelope('sandbox', [
          { mspId: 'OrdererMSP', roots: [ordererCa.cert], section: 'Orderer' },
        ]),
      ],
      orderer: undefined,
      lastConfig: 0,
    });
    const refusals: [string, unknown, string[], RegExp][] = [
      [
        'other-genesis.json',
        { ...profile, genesis: sandbox.hash },
        [],
        /block 0: its hash [0-9a-f]{64} is not the channel's genesis block/,
      ],
      [
        'leaf-as-ca.json',
        { ...profile, banks: { ...profile.banks, BankBMSP: [honest.peers.BankBMSP!.pki.cert] } },
        [],
        /banks\.BankBMSP\[0\] \(.*CN=peer0\) is not a CA certificate/,
      ],
      [
        'two-roles.json',
        { ...profile, others: { BankAMSP: profile.banks.BankAMSP } },
        [],
        /BankAMSP is pinned both as banks and as others/,
      ],
      ['no-genesis.json', { ...profile, genesis: undefined }, [], /: genesis: /],
      ['not-json.json', 'OrdererMSP=ca.pem', [], /is not JSON: expected a trust profile/],
      [
        'profile-and-pins.json',
        profile,
        ['--channel', 'another'],
        /give either --profile or the pins \(--channel\), not both/,
      ],
    ];
    for (const [name, content, extra, reason] of refusals) {
      const result = await run(name, content, extra);
      expect({ name, code: result.code, verified: /verified:/.test(result.stdout) }).toEqual({
        name,
        code: 1,
        verified: false,
      });
      expect(result.stderr).toMatch(reason);
    }
  }, 120_000);
});
