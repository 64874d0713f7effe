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

  /** The banks of the consortium, by MSP id. */
  const BANKS = ['BankAMSP', 'BankBMSP', 'BankCMSP'] as const;

  /** A signer of `mspId` with a certificate `ca` issues for `subject`. */
  const signer = (mspId: string, ca: Pki, subject: string): Signer => ({
    mspId,
    pki: issue(directory, ca, subject),
  });

  /** The real channel's roots: the orderer org and the three banks under their own CAs. */
  const honestRoots = (): Record<string, string> => ({
    OrdererMSP: ordererCa.cert,
    ...Object.fromEntries(Object.entries(bankCas).map(([mspId, ca]) => [mspId, ca.cert])),
  });

  /**
   * An unsigned block 0 whose config names each MSP's root CA (PEM) by MSP id: OrdererMSP as the
   * orderer org (with `ordererCrl` as its revocation list), every other MSP as a bank with anchor
   * peers; `extra` envelopes follow the config in the block.
   */
  const genesisOf = (
    roots: Record<string, string>,
    {
      channel = CHANNEL,
      ordererCrl,
      extra = [],
    }: { channel?: string; ordererCrl?: string; extra?: Uint8Array[] } = {},
  ): BuiltBlock =>
    block({
      number: 0,
      previousHash: '',
      envelopes: [
        configEnvelope(
          channel,
          Object.entries(roots).map(([mspId, root]) =>
            mspId === 'OrdererMSP'
              ? {
                  mspId,
                  roots: [root],
                  section: 'Orderer' as const,
                  ...(ordererCrl === undefined ? {} : { revocationList: [ordererCrl] }),
                }
              : { mspId, roots: [root], section: 'Application' as const, anchorPeers: true },
          ),
        ),
        ...extra,
      ],
      orderer: undefined,
      lastConfig: 0,
    });

  /** The lineage of MODEL in all three banks' records, and the writes that record it. */
  const modelLineage = () => forgedLineage(MODEL, BANKS);

  type Transaction = Parameters<typeof endorserTransaction>[0];
  /**
   * A transaction `txId` writing `writes` on the channel in veilsum's namespace, created by
   * BankA's client and endorsed by BankA's and BankB's peers, unless `other` says otherwise.
   */
  const lineageTx = (
    txId: string,
    writes: Transaction['writes'],
    other: Partial<Pick<Transaction, 'channel' | 'namespace' | 'creator' | 'endorsers'>> = {},
  ) =>
    endorserTransaction({
      channel: CHANNEL,
      txId,
      namespace: CHAINCODE,
      writes,
      creator: honest.clients.BankAMSP!,
      endorsers: [honest.peers.BankAMSP!, honest.peers.BankBMSP!],
      ...other,
    });

  /** The block after `previous` holding `envelopes`, signed by the real orderer unless told. */
  const signedAfter = (
    previous: BuiltBlock,
    envelopes: Uint8Array[],
    {
      orderer = honest.orderer,
      number = previous.number + 1,
    }: { orderer?: Signer; number?: number } = {},
  ): BuiltBlock =>
    block({ number, previousHash: previous.hash, envelopes, orderer, lastConfig: 0 });

  /** The bundle of `blocks` and `lineage` for MODEL on the pinned channel, unless told. */
  const bundleWith = (
    blocks: BuiltBlock[],
    lineage: Parameters<typeof bundleOf>[0]['lineage'],
    { channel = CHANNEL, modelHash = MODEL }: { channel?: string; modelHash?: string } = {},
  ) => bundleOf({ channel, chaincode: CHAINCODE, modelHash, blocks, lineage });

  /**
   * What signatureProblem says of `by` signing `bytes` in `role` on a channel whose only MSP is
   * `msp` (with Fabric's node OUs), against every pinned CA.
   */
  const problemOf = (
    by: Signer,
    bytes: string,
    role: 'peer' | 'orderer',
    msp: Omit<ChannelMsp, 'nodeOus'>,
  ) => {
    const signed = Buffer.from(bytes);
    return signatureProblem(
      {
        signer: { mspId: by.mspId, certificate: by.pki.cert, serialized: new Uint8Array() },
        signed,
        signature: sign('sha256', signed, by.pki.key),
      },
      new Map<string, ChannelMsp>([
        [msp.mspId, { ...msp, nodeOus: { peer: 'peer', orderer: 'orderer' } }],
      ]),
      trusted,
      role,
    );
  };

  /** OrdererMSP as a config BankA wrote would define it: BankA's CA as root, `via` as intermediate. */
  const ordererMspVia = (via: Pki): Omit<ChannelMsp, 'nodeOus'> => ({
    mspId: 'OrdererMSP',
    rootCertificates: [bankCas.BankAMSP.cert],
    intermediateCertificates: [via.cert],
    hasPeers: false,
    orderer: true,
  });

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
      peers[mspId] = signer(mspId, ca, `/O=${mspId}/OU=peer/CN=peer0`);
      clients[mspId] = signer(mspId, ca, `/O=${mspId}/OU=client/CN=User1`);
    }
    const orderer = signer('OrdererMSP', ordererCa, '/O=OrdererOrg/OU=orderer/CN=orderer0');
    honest = { orderer, peers, clients, genesis: genesisOf(honestRoots()) };
  }, 120_000);

  afterAll(() => {
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  /** The lineage in one block the real orderer signed on the real channel, and its transaction. */
  const honestBundle = () => {
    const { lineage, writes } = modelLineage();
    const tx = lineageTx('aa'.repeat(32), writes);
    const bundle = bundleWith([honest.genesis, signedAfter(honest.genesis, [tx])], [lineage]);
    return { bundle, tx, lineage };
  };

  it('an honest chain verifies; the same lineage in a block a bank signed as "orderer" under the real genesis is refused', () => {
    const { bundle: ok, tx, lineage } = honestBundle();
    expect(verify(ok).transactions).toBe(1);
    // BankA signs the block with an "orderer" certificate from its own CA: refused under the
    // real genesis config (OrdererMSP's root is the orderer org's CA).
    const bankAsOrderer = signer(
      'OrdererMSP',
      bankCas.BankAMSP,
      '/O=OrdererOrg/OU=orderer/CN=orderer0',
    );
    const forged = signedAfter(honest.genesis, [tx], { orderer: bankAsOrderer });
    const forgedBundle = bundleWith([honest.genesis, forged], [lineage]);
    expect(() => verify(forgedBundle)).toThrow(
      /orderer signature: OrdererMSP's signer .* is not issued by OrdererMSP's CA/,
    );
  });

  it("refuses a channel one bank forged with its own CA key (its genesis config names its CA as every MSP's root, the orderer's included): the roots must be the ones pinned per MSP id", async () => {
    const bankA = bankCas.BankAMSP;
    // Everything below is minted by BankA's CA, which the regulator pins as a bank's CA.
    const fakeOrderer = signer(
      'OrdererMSP',
      bankA,
      '/O=OrdererOrg/OU=orderer/CN=orderer0.example.com',
    );
    const fakePeer = (mspId: string) =>
      signer(mspId, bankA, `/O=${mspId}/OU=peer/CN=peer0.${mspId.toLowerCase()}`);
    const fakeClient = signer('BankBMSP', bankA, '/O=BankBMSP/OU=client/CN=User1@bankb');
    const genesis = genesisOf(
      Object.fromEntries(['OrdererMSP', ...BANKS].map((mspId) => [mspId, bankA.cert])),
    );
    // BankB and BankC "consented" and "endorsed": a lineage none of them ever wrote.
    const { lineage, writes } = modelLineage();
    const forged = signedAfter(
      genesis,
      [
        lineageTx('bb'.repeat(32), writes, {
          creator: fakeClient,
          endorsers: [fakePeer('BankBMSP'), fakePeer('BankCMSP')],
        }),
      ],
      { orderer: fakeOrderer },
    );
    const bundle = bundleWith([genesis, forged], [lineage]);
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
    const fakePeer = (mspId: string) =>
      signer(mspId, bankA, `/O=${mspId}/OU=peer/CN=peer1.${mspId.toLowerCase()}`);
    const { lineage, writes } = modelLineage();
    const genesis = genesisOf(
      {
        // The real orderer org, with its real CA: untouched, and never asked to sign.
        OrdererMSP: ordererCa.cert,
        ...Object.fromEntries(BANKS.map((mspId) => [mspId, bankA.cert])),
      },
      {
        extra: [
          lineageTx('ab'.repeat(32), writes, {
            creator: signer('BankBMSP', bankA, '/O=BankBMSP/OU=client/CN=u'),
            endorsers: [fakePeer('BankBMSP'), fakePeer('BankCMSP')],
          }),
        ],
      },
    );
    const bundle = bundleWith([genesis], [lineage]);
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
    const { lineage, writes } = modelLineage();
    const withExtra = genesisOf(honestRoots(), { extra: [lineageTx('e1'.repeat(32), writes)] });
    // The records written in block 0 (which no orderer signs), under an orderer-signed head.
    expect(() => verify(bundleWith([withExtra, signedAfter(withExtra, [])], [lineage]))).toThrow(
      'block 0: the genesis block must hold exactly one config transaction and nothing else',
    );
    // The genesis hash pinned: a chain from another genesis is refused, the real one verifies.
    const honestBundle = bundleWith(
      [honest.genesis, signedAfter(honest.genesis, [lineageTx('e2'.repeat(32), writes)])],
      [lineage],
    );
    expect(verify(honestBundle).transactions).toBe(1);
    expect(() =>
      verifyFabricEvidenceBundle(honestBundle, { ...trust, genesis: withExtra.hash }),
    ).toThrow(/block 0: its hash [0-9a-f]{64} is not the channel's genesis block/);
    expect(
      verifyFabricEvidenceBundle(honestBundle, { ...trust, genesis: honest.genesis.hash })
        .signedBlocks,
    ).toBe(1);
    // A bank pinned as a bank signs no block, even with an orderer-OU certificate from its CA.
    const bankSigned = signedAfter(honest.genesis, [lineageTx('e3'.repeat(32), writes)], {
      orderer: signer('BankAMSP', bankCas.BankAMSP, '/O=BankAMSP/OU=orderer/CN=o'),
    });
    expect(() => verify(bundleWith([honest.genesis, bankSigned], [lineage]))).toThrow(
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
    const sandboxGenesis = genesisOf(
      { OrdererMSP: ordererCa.cert, BankAMSP: bankCas.BankAMSP.cert },
      { channel: 'banka-sandbox' },
    );
    const { lineage, writes } = modelLineage();
    const sandboxBlock = signedAfter(
      sandboxGenesis,
      [
        lineageTx('cc'.repeat(32), writes, {
          channel: 'banka-sandbox',
          endorsers: [honest.peers.BankAMSP!],
        }),
      ],
      {
        // Signed by the real orderer (its real certificate), as it signs every channel's blocks.
        orderer: honest.orderer,
      },
    );
    const bundle = bundleWith([sandboxGenesis, sandboxBlock], [lineage], {
      channel: CHANNEL, // what the bundle claims
    });
    // A sound verifier refuses: the envelopes' channel id is not the bundle's channel (and the
    // channel's banks are not the consortium's: "1 of 1 banks" is no majority of the consortium).
    expect(() => verify(bundle)).toThrow(/channel/);
  });

  it("counts only the pinned chaincode's writes: records written under another chaincode's namespace (a generic key-value contract) are refused", () => {
    const { lineage, writes } = modelLineage();
    // Peers endorse whatever a generic put-key chaincode simulates: a majority endorses.
    const kvBlock = signedAfter(honest.genesis, [
      lineageTx('dd'.repeat(32), writes, { namespace: 'kvstore' }),
    ]);
    const asVeilsum = bundleWith([honest.genesis, kvBlock], [lineage]);
    // Under veilsum's namespace nothing wrote the records (refused, as it should be) ...
    expect(() => verify(asVeilsum)).toThrow(/no block in the bundle wrote/);
    // ... but the bundle names the namespace itself: a sound verifier pins it (--chaincode).
    expect(() => verify({ ...asVeilsum, chaincode: 'kvstore' })).toThrow(/chaincode|namespace/);
  });

  it('ties the model version to the lineage: another model hash, or an empty lineage, is refused', async () => {
    const { lineage, writes } = modelLineage();
    const real = signedAfter(honest.genesis, [lineageTx('ee'.repeat(32), writes)]);
    const other = '77'.repeat(32); // a model version the ledger never recorded
    const bundle = bundleWith([honest.genesis, real], [], { modelHash: other });
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
    const { lineage, writes } = modelLineage();
    // Another genuine round on the same ledger (an earlier, smaller one).
    const r2 = {
      ...lineage.round,
      roundId: 'round-2',
      roster: ['BankAMSP', 'BankBMSP'],
      included: ['BankAMSP', 'BankBMSP'],
    };
    const chainBlock = signedAfter(honest.genesis, [
      lineageTx('a1'.repeat(32), [...writes, { key: 'round/round-2', value: JSON.stringify(r2) }]),
    ]);
    const mixed = {
      ...lineage,
      round: r2,
      contributions: lineage.contributions.filter((c) => c.memberId !== 'BankCMSP'),
    };
    const bundle = bundleWith([honest.genesis, chainBlock], [mixed]);
    // modelVersion.roundId is forged-round-1; the bundle's round is round-2. A sound verifier
    // checks the lineage is the model version's: its round, and that round's consents.
    expect(() => verify(bundle)).toThrow(/round/);
  });

  it("refuses blocks signed with an orderer certificate on its MSP's revocation list (a stolen, decommissioned node's)", () => {
    const stolen = signer(
      'OrdererMSP',
      ordererCa,
      '/O=OrdererOrg/OU=orderer/CN=orderer9-decommissioned',
    );
    const crl = revoke(directory, ordererCa, [stolen.pki]);
    const genesis = genesisOf(honestRoots(), { ordererCrl: crl });
    const { lineage, writes } = modelLineage();
    const forged = signedAfter(genesis, [lineageTx('c1'.repeat(32), writes)], { orderer: stolen });
    const bundle = bundleWith([genesis, forged], [lineage]);
    // Fabric's peers refuse a block signed by a revoked orderer certificate; so should this.
    expect(() => verify(bundle)).toThrow(/revoked/);
  });

  it('refuses an end-entity certificate (CA:FALSE, no keyUsage) from a pinned CA as an intermediate issuer of orderer and peer certificates', () => {
    // E.g. a BankA TLS or application certificate without a keyUsage extension, and its key.
    const endEntity = issue(directory, bankCas.BankAMSP, '/O=BankAMSP/OU=client/CN=app-server', [
      'basicConstraints=critical,CA:FALSE',
    ]);
    const fakeOrderer = signer('OrdererMSP', endEntity, '/O=OrdererOrg/OU=orderer/CN=orderer0');
    const problem = problemOf(
      fakeOrderer,
      'value | signature header | block header',
      'orderer',
      ordererMspVia(endEntity),
    );
    // Fabric (and RFC 5280) refuse an issuer that is not a CA (basicConstraints CA:FALSE).
    expect(problem).toMatch(/not issued|intermediate|CA/);
  });

  it('refuses a cryptogen-style end-entity certificate (keyUsage digitalSignature) as an issuer', () => {
    const endEntity = issue(directory, bankCas.BankAMSP, '/O=BankAMSP/OU=client/CN=User2', [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
    ]);
    const leaf = signer('OrdererMSP', endEntity, '/O=OrdererOrg/OU=orderer/CN=orderer0');
    expect(problemOf(leaf, 'x', 'orderer', ordererMspVia(endEntity))).toMatch(
      /is not issued by OrdererMSP's CA/,
    );
  });

  it('a client certificate whose CN smuggles "\\nOU=peer" is no peer (Node escapes the newline)', () => {
    const smuggler = signer(
      'BankAMSP',
      bankCas.BankAMSP,
      '/O=BankAMSP/OU=client/CN=alice\nOU=peer',
    );
    expect(smuggler.pki.x509.subject).toContain('\\0AOU=peer');
    const problem = problemOf(smuggler, 'endorsed bytes', 'peer', {
      mspId: 'BankAMSP',
      rootCertificates: [bankCas.BankAMSP.cert],
      intermediateCertificates: [],
      hasPeers: true,
      orderer: false,
    });
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
    const sandbox = genesisOf({ OrdererMSP: ordererCa.cert }, { channel: 'sandbox' });
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
