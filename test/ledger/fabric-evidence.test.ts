import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { common } from '@hyperledger/fabric-protos';
import { decodeBlock, signatureProblem } from '../../ledger/fabric/fabric-blocks.ts';
import {
  verifyFabricEvidenceBundle,
  type FabricEvidenceBundle,
  type FabricTrust,
} from '../../services/console/fabric-evidence.ts';
import { fabricEvidenceFixture, veilsumCli } from '../support/fabric-console-consortium.ts';
import { TEST_BANKS, useFabricTestNetwork } from './fabric-network-fixture.ts';

/**
 * Evidence bundles from a Fabric channel (issue 20's evidence export, on Fabric): one SecAgg
 * round with three banks on a real network, its model version recorded, and the console (read
 * through BankC's peer, as an officer starts it) exports the version's bundle: the Fabric blocks
 * as the peer stores them, the chain's headers to the head, the channel's MSPs. `audit
 * verify-bundle --trust <the organisations' CAs>` checks it offline; each forgery a bundle maker
 * could try fails naming the block, transaction or record: a byte flipped in a block, an
 * orderer signature altered, a header link rewritten, a record that differs from what its
 * transaction wrote, an endorsement by an organisation whose CA the auditor did not pin.
 */
jest.setTimeout(300_000);

const MODEL = 'fabric-evidence-model';
const running = useFabricTestNetwork(900);

describe('evidence bundles from a Fabric channel, verified offline', () => {
  let directory: string;
  let get: (path: string) => Promise<{ status: number; body: Buffer }>;
  let profileFile: string;
  let modelHash: string;
  let bytes: Buffer;
  let bundle: FabricEvidenceBundle;
  /** The CA certificate of every organisation of the network, as an auditor pins them. */
  let pinnedArgs: string[];
  let trust: FabricTrust;
  let trusted: X509Certificate[];
  const closing: (() => unknown)[] = [];

  const verify = (changed: FabricEvidenceBundle, pins = trust) =>
    verifyFabricEvidenceBundle(JSON.parse(JSON.stringify(changed)) as FabricEvidenceBundle, pins);

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-fabric-evidence-'));
    // The console as an officer starts it, through BankC's peer (no one wrote through it); what
    // an auditor pins: the network's trust profile (each organisation's CA certificate by MSP id
    // and role, the channel, the chaincode, the genesis hash), and the same CAs as flags.
    ({ modelHash, get, profileFile, trust, pinnedArgs } = await fabricEvidenceFixture(
      running(),
      directory,
      MODEL,
      9,
      closing,
    ));
    trusted = [trust.orderers, trust.banks, trust.others!].flatMap((r) => Object.values(r).flat());
  }, 600_000);

  afterAll(async () => {
    for (const close of closing.reverse()) await close();
    if (directory) rmSync(directory, { recursive: true, force: true });
  }, 60_000);

  it('the console exports the bundle and its PDF on Fabric; the same ledger gives the same bytes; verify-bundle checks it offline', async () => {
    const page = await get('/export');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain(`/export/${modelHash}.json`);
    // Two officers export at once (the console reads the chain's blocks for the first time),
    // then again: the chain head has not moved (no transaction since), the same bytes each time.
    const [first, concurrent] = await Promise.all([
      get(`/export/${modelHash}.json`),
      get(`/export/${modelHash}.json`),
    ]);
    expect([first.status, concurrent.status]).toEqual([200, 200]);
    bytes = first.body;
    expect(concurrent.body.equals(bytes)).toBe(true);
    const second = await get(`/export/${modelHash}.json`);
    expect(second.body.equals(bytes)).toBe(true);
    const pdf = await get(`/export/${modelHash}.pdf`);
    expect(pdf.body.subarray(0, 5).toString()).toBe('%PDF-');
    bundle = JSON.parse(bytes.toString('utf8')) as FabricEvidenceBundle;
    expect(bundle.format).toBe('veilsum-fabric-evidence/1');
    // The model version's transaction, its round's and the banks' consents, each in a block.
    const keys = bundle.transactions.flatMap((tx) => tx.keys);
    expect(keys).toContain(`model/${modelHash}`);
    for (const bank of TEST_BANKS) expect(keys).toContain(`consent/${bank}-consent`);
    expect(bundle.msps.map((msp) => msp.mspId)).toEqual(expect.arrayContaining(TEST_BANKS));
    // The round's Merkle root of uploads, checked against its write set below. (A SecAgg round
    // keeps no upload receipts on the ledger: each bank proves its upload with prove-inclusion;
    // CKKS rounds' proofs are built from their receipts and bundled.)
    expect(bundle.lineage[0]!.round.uploadsMerkleRoot).toMatch(/^[0-9a-f]{64}$/);

    const file = join(directory, 'bundle.json');
    writeFileSync(file, bytes);
    // The genesis hash as the auditor's bank reads it from its own peer (block 1 points at it;
    // this bundle is the honest export of that peer's chain).
    const genesis = { previousHash: bundle.headers[1]![1] };
    const verified = await veilsumCli([
      'audit',
      'verify-bundle',
      file,
      ...pinnedArgs,
      '--genesis',
      genesis.previousHash,
    ]);
    expect(verified.stdout).toMatch(
      new RegExp(
        `^evidence bundle verified: model version ${modelHash}, 1 rounds, ${bundle.blocks.length - 1} signed blocks`,
      ),
    );
    expect(verified.code).toBe(0);
    // The same pins from the trust profile the network's bring-up wrote (what the consortium
    // hands its auditors): its genesis hash is the chain's.
    const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as { genesis: string };
    expect(profile.genesis).toBe(genesis.previousHash);
    const profiled = await veilsumCli(['audit', 'verify-bundle', file, '--profile', profileFile]);
    expect(profiled.stdout).toMatch(/^evidence bundle verified: model version/);
    expect(profiled.code).toBe(0);
    // Without CAs of its own the auditor proves nothing: refused.
    const unpinned = await veilsumCli(['audit', 'verify-bundle', file]);
    expect(unpinned.code).toBe(1);
    expect(unpinned.stderr).toMatch(
      /needs --profile <.*>, or --orderer <MSP>=<CA file> and --bank/,
    );
    // One changed byte of a consent's dataset id in the claimed lineage.
    const text = bytes.toString('utf8');
    const at = text.indexOf('"datasetId":"BankBMSP') + '"datasetId":"B'.length;
    writeFileSync(file, text.slice(0, at) + 'X' + text.slice(at + 1));
    const tampered = await veilsumCli(['audit', 'verify-bundle', file, ...pinnedArgs]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(
      /NOT verified: consent BankBMSP-consent: differs from what block \d+ transaction [0-9a-f]{64} wrote consent\/BankBMSP-consent/,
    );
  });

  it('a byte flipped in a block fails naming the block', () => {
    const flipped = (number: number, text: string) => {
      const raw = Buffer.from(bundle.blocks.find((b) => b.number === number)!.bytes, 'base64');
      const at = raw.indexOf(text) + text.length - 1;
      expect(at).toBeGreaterThan(text.length - 1);
      raw[at] = raw[at]! ^ 1;
      return {
        ...bundle,
        blocks: bundle.blocks.map((b) =>
          b.number === number ? { ...b, bytes: raw.toString('base64') } : b,
        ),
      };
    };
    // In the model version's record: its block no longer hashes to the chain (its creator's
    // and endorsers' signatures would not hold either).
    const target = bundle.transactions.find((tx) => tx.keys.includes(`model/${modelHash}`))!;
    expect(() => verify(flipped(target.block, modelHash.slice(0, 12)))).toThrow(
      `block ${target.block}: its transactions do not hash to its header's data hash`,
    );
    // In the channel's genesis config block (a bank's anchor peer address), which no signature
    // of its own covers: only its data hash, chained to the signed head, does.
    expect(() => verify(flipped(0, '127.0.0.'))).toThrow(
      "block 0: its transactions do not hash to its header's data hash",
    );
  });

  it('an altered orderer signature fails naming the block', () => {
    const entry = bundle.blocks.find((b) => b.number === bundle.head.number)!;
    const block = common.Block.deserializeBinary(Buffer.from(entry.bytes, 'base64'));
    const metadata = block.getMetadata()!;
    const list = metadata.getMetadataList_asU8();
    const signed = common.Metadata.deserializeBinary(list[0]!);
    const signature = signed.getSignaturesList()[0]!;
    const bytes = Buffer.from(signature.getSignature_asU8());
    bytes[bytes.length - 3]! ^= 1;
    signature.setSignature(bytes);
    list[0] = signed.serializeBinary();
    metadata.setMetadataList(list);
    const changed = {
      ...bundle,
      blocks: bundle.blocks.map((b) =>
        b === entry ? { ...b, bytes: Buffer.from(block.serializeBinary()).toString('base64') } : b,
      ),
    };
    expect(() => verify(changed)).toThrow(
      new RegExp(
        `^block ${bundle.head.number}: orderer signature: \\w+'s signature does not match`,
      ),
    );
  });

  it('a rewritten header link fails naming the block', () => {
    const headers = bundle.headers.map((h) => [...h] as [number, string, string]);
    // A block the bundle holds only the header of (the chaincode's deployment, …).
    const k = headers.findIndex(([n]) => n > 0 && !bundle.blocks.some((b) => b.number === n));
    expect(k).toBeGreaterThan(0);
    headers[k]![2] = 'ff' + headers[k]![2].slice(2);
    expect(() => verify({ ...bundle, headers })).toThrow(
      `block ${k + 1}: its header does not point at block ${k}'s hash`,
    );
  });

  it('a record whose write set differs from the claimed state fails naming the record and its transaction', () => {
    const lineage = bundle.lineage.map((l) => ({
      ...l,
      round: { ...l.round, aggregateHash: '00'.repeat(32) },
    }));
    expect(() => verify({ ...bundle, lineage })).toThrow(
      new RegExp(
        `^round ${bundle.lineage[0]!.round.roundId}: differs from what block \\d+ transaction [0-9a-f]{64} wrote round/`,
      ),
    );
  });

  it('an endorsement by an organisation whose CA the auditor did not pin fails naming it; a client’s signature is no endorsement', () => {
    // The endorsers of the model version's transaction, as the block holds them.
    const target = bundle.transactions.find((tx) => tx.keys.includes(`model/${modelHash}`))!;
    const block = decodeBlock(
      Buffer.from(bundle.blocks.find((b) => b.number === target.block)!.bytes, 'base64'),
    );
    const endorser = block.transactions.find((tx) => tx.txId === target.txId)!.endorsements[0]!
      .signer.mspId;
    // The auditor pins another CA for that MSP id (e.g. a rotated-out one): refused by name.
    const otherCa = trust.orderers.OrdererMSP!;
    const pins = { ...trust, banks: { ...trust.banks, [endorser]: otherCa } };
    expect(() => verify(bundle, pins)).toThrow(
      new RegExp(
        `^block \\d+: the config gives ${endorser} root CAs other than the ones the auditor pins for ${endorser}$`,
      ),
    );
    expect(verify(bundle).transactions).toBeGreaterThan(3);
    // A bank's client certificate (the transaction's creator), from a pinned CA, does not make
    // an endorsement: endorsements are its peers'.
    const creator = block.transactions.find((tx) => tx.txId === target.txId)!.creator!;
    const msps = new Map(bundle.msps.map((msp) => [msp.mspId, msp]));
    expect(signatureProblem(creator, msps, trusted)).toBeUndefined();
    expect(signatureProblem(creator, msps, trusted, 'peer')).toMatch(
      /signer \(.*OU=client.*\) is not a peer \(its certificate lacks OU=peer\)$/,
    );
  });
});
