import { X509Certificate } from 'node:crypto';
import {
  blockHeaderHash,
  channelMsps,
  decodeBlock,
  signatureProblem,
  type ChannelMsp,
  type DecodedBlock,
} from '../../ledger/fabric/fabric-blocks.ts';
import type { Lineage } from '../../ledger/records.ts';
import {
  BundleVerificationError,
  bundleSha256,
  checkLineage,
  lineageIds,
  touchesKey,
} from './evidence-bundle.ts';
import { pemCertificates, type FabricTrust } from '../../ledger/fabric/fabric-trust-profile.ts';
import { proofFromReceipts, type InclusionProofJson } from './pages/verify-page.ts';

/**
 * Evidence from a Fabric channel a regulator verifies offline: for one model version, the
 * blocks (as the peer stores them: protobuf bytes, orderer signatures, every transaction's
 * creator signature and endorsements) whose valid transactions wrote the records its lineage
 * rests on, the config blocks those blocks were ordered under (the channel's MSPs and their CA
 * certificates), the head block, and the header (number, previous hash, data hash) of every
 * block from 0 to the head, so each full block sits in one hash chain ending at the signed head.
 * Built from the ledger only, with sorted keys and no clock: the same ledger gives the same bytes.
 */
export interface FabricEvidenceBundle {
  readonly format: 'veilsum-fabric-evidence/1';
  readonly modelHash: string;
  readonly channel: string;
  /** The chaincode whose write sets hold veilsum's records. */
  readonly chaincode: string;
  readonly head: { readonly number: number; readonly hash: string };
  /** [number, previousHash, dataHash] of every block 0..head. */
  readonly headers: readonly (readonly [number, string, string])[];
  /** Whole blocks, by number: base64 of the bytes the peer delivered. */
  readonly blocks: readonly { readonly number: number; readonly bytes: string }[];
  /** The valid transactions that wrote the lineage's records (what the blocks are for). */
  readonly transactions: readonly {
    readonly block: number;
    readonly txId: string;
    readonly keys: readonly string[];
  }[];
  /** The channel's MSPs, as the config block in force at the head defines them (for readers). */
  readonly msps: readonly ChannelMsp[];
  readonly lineage: readonly Lineage[];
  readonly inclusionProofs: readonly InclusionProofJson[];
}

/** What the builder needs from the console's Fabric view (its own peer). */
export interface FabricBlockSource {
  readonly channel: string;
  readonly chaincode: string;
  /** The channel's height on the console's own peer. */
  height(): Promise<number>;
  blockBytes(number: number): Promise<Uint8Array>;
}

interface BlockSummary {
  readonly header: readonly [number, string, string];
  readonly hash: string;
  readonly lastConfig: number | undefined;
  /** Valid transactions of the chaincode: their ids and the keys they wrote. */
  readonly writes: readonly { readonly txId: string; readonly keys: readonly string[] }[];
}

/** Block reads an export keeps in flight on the console's peer, at most (all exports together). */
export const MAX_BLOCK_READS = 4;

/**
 * Builds Fabric evidence bundles from the console's own peer. Block summaries (header, keys
 * written) are kept once read: blocks never change, so a second export reads only new ones.
 */
export class FabricEvidenceBuilder {
  private readonly source: FabricBlockSource;
  private readonly summaries: BlockSummary[] = [];

  /** Builds under way, by model version, head and lineage: concurrent requests share one. */
  private readonly building = new Map<string, Promise<FabricEvidenceBundle>>();
  /** Block reads in flight on the peer, at most `MAX_BLOCK_READS` (across every export). */
  private reads = 0;
  private readonly waitingReads: (() => void)[] = [];

  constructor(source: FabricBlockSource) {
    this.source = source;
  }

  /** A block's bytes from the peer, with at most MAX_BLOCK_READS reads in flight. */
  private async blockBytes(number: number): Promise<Uint8Array> {
    while (this.reads >= MAX_BLOCK_READS)
      await new Promise<void>((resolve) => this.waitingReads.push(resolve));
    this.reads++;
    try {
      return await this.source.blockBytes(number);
    } finally {
      this.reads--;
      this.waitingReads.shift()?.();
    }
  }

  /** The summaries being read (one reader at a time: two exports must not read a block twice). */
  private reading: Promise<unknown> = Promise.resolve();

  private summariesTo(head: number): Promise<readonly BlockSummary[]> {
    const read = this.reading.then(() => this.readSummaries(head));
    this.reading = read.catch(() => undefined);
    return read;
  }

  private async readSummaries(head: number): Promise<readonly BlockSummary[]> {
    while (this.summaries.length <= head) {
      const number = this.summaries.length;
      const block = decodeBlock(await this.blockBytes(number));
      const previous = this.summaries.at(-1);
      // The peer's blocks must link; evidence is never built on a chain that does not.
      if (block.number !== number || (previous && block.previousHash !== previous.hash))
        throw new Error(`the peer's block ${number} does not link to block ${number - 1}`);
      this.summaries.push({
        header: [block.number, block.previousHash, block.dataHash],
        hash: block.hash,
        lastConfig: block.lastConfig,
        writes: block.transactions
          .filter((tx) => tx.validationCode === 0)
          .map((tx) => ({
            txId: tx.txId,
            keys: tx.writes
              .filter((write) => write.namespace === this.source.chaincode)
              .map((write) => write.key),
          }))
          .filter((tx) => tx.keys.length > 0),
      });
    }
    return this.summaries.slice(0, head + 1);
  }

  /**
   * The bundle of `modelHash` at the peer's current head. Requests for the same model version,
   * head and lineage while one is being built share it (the same ledger gives the same bytes).
   */
  async build(modelHash: string, lineages: readonly Lineage[]): Promise<FabricEvidenceBundle> {
    const height = await this.source.height();
    if (height <= 0) throw new Error('the channel has no blocks');
    const key = `${modelHash}@${height}:${bundleSha256(lineages)}`;
    let building = this.building.get(key);
    if (building === undefined) {
      building = this.buildAt(height, modelHash, lineages).finally(() => this.building.delete(key));
      this.building.set(key, building);
    }
    return building;
  }

  private async buildAt(
    height: number,
    modelHash: string,
    lineages: readonly Lineage[],
  ): Promise<FabricEvidenceBundle> {
    const head = height - 1;
    const summaries = await this.summariesTo(head);
    const ids = lineageIds(lineages);
    const transactions = summaries.flatMap((summary) =>
      summary.writes
        .map((tx) => ({
          block: summary.header[0],
          txId: tx.txId,
          keys: tx.keys.filter((key) => touchesKey(key, ids)),
        }))
        .filter((tx) => tx.keys.length > 0),
    );
    const wanted = new Set<number>([head, ...transactions.map((tx) => tx.block)]);
    for (const number of [...wanted]) {
      const config = summaries[number]!.lastConfig;
      if (config !== undefined) wanted.add(config);
    }
    const numbers = [...wanted].sort((a, b) => a - b);
    const blocks = await Promise.all(
      numbers.map(async (number) => ({
        number,
        bytes: Buffer.from(await this.blockBytes(number)).toString('base64'),
      })),
    );
    const headConfig = summaries[head]!.lastConfig ?? 0;
    const configBytes = Buffer.from(blocks.find((b) => b.number === headConfig)!.bytes, 'base64');
    return {
      format: 'veilsum-fabric-evidence/1',
      modelHash,
      channel: this.source.channel,
      chaincode: this.source.chaincode,
      head: { number: head, hash: summaries[head]!.hash },
      headers: summaries.map((summary) => summary.header),
      blocks,
      transactions,
      msps: channelMsps(configBytes),
      lineage: [...lineages],
      inclusionProofs: lineages.flatMap((l) =>
        l.round.included
          .map((member) => proofFromReceipts(l.round, member))
          .filter((proof) => proof !== undefined),
      ),
    };
  }
}

/** The roles' root CAs for an MSP id, as the auditor pins them. */
function pinnedFor(trust: FabricTrust, mspId: string): readonly X509Certificate[] | undefined {
  const own = (record: Readonly<Record<string, readonly X509Certificate[]>> | undefined) =>
    record !== undefined && Object.hasOwn(record, mspId) ? record[mspId] : undefined;
  return own(trust.orderers) ?? own(trust.banks) ?? own(trust.others);
}

const fingerprints = (certificates: readonly X509Certificate[]) =>
  [...new Set(certificates.map((c) => c.fingerprint256))].sort().join(' ');

export { pemCertificates, type FabricTrust };

/**
 * Checks a Fabric bundle offline against what the auditor pins (`trust`; the bundle's own MSP
 * certificates prove nothing — whoever made the bundle chose them): the bundle is of the pinned
 * channel and chaincode, and every envelope in it was made for that channel; the headers form
 * one hash chain from block 0 (its hash the pinned genesis, if given) to the head; every whole
 * block hashes to its header; every block but the genesis block, the head included, is signed
 * by an MSP the auditor names as orderer; the config in force at each block defines exactly the
 * pinned root CAs for every MSP it names; the genesis block holds one config envelope and
 * nothing else; every valid transaction of the chaincode carries its creator's signature and
 * endorsements from a majority of the auditor's banks, each from a certificate issued by its
 * MSP's CA, not revoked by the MSP's revocation lists; the lineage's records equal the values
 * those transactions wrote and belong together; each inclusion proof leads to its round's
 * Merkle root. Throws naming the first block, transaction or record that fails.
 */
export function verifyFabricEvidenceBundle(
  bundle: FabricEvidenceBundle,
  trust: FabricTrust,
): {
  blocks: number;
  signedBlocks: number;
  head: number;
  rounds: number;
  proofs: number;
  transactions: number;
} {
  const fail = (what: string): never => {
    throw new BundleVerificationError(what);
  };
  if (bundle.format !== 'veilsum-fabric-evidence/1')
    fail(`unknown bundle format ${String(bundle.format)}`);
  const banks = Object.keys(trust.banks);
  if (Object.keys(trust.orderers).length === 0 || banks.length === 0)
    fail(
      'no orderer or bank CA pinned: a bundle that carries its own CAs proves nothing by itself (--orderer <MSP>=<ca.pem>, --bank <MSP>=<ca.pem>)',
    );
  const chaincode = trust.chaincode ?? 'veilsum';
  if (bundle.channel !== trust.channel)
    fail(
      `the bundle is of channel ${bundle.channel}, not the channel ${trust.channel} (--channel)`,
    );
  if (bundle.chaincode !== chaincode)
    fail(
      `the bundle names chaincode ${bundle.chaincode}, not the chaincode ${chaincode} (--chaincode) whose writes count`,
    );
  // The chain of headers, from block 0 to the head.
  let previousHash: string | undefined;
  bundle.headers.forEach(([number, previous, dataHash], i) => {
    if (number !== i) fail(`header ${i}: block number ${number}, expected ${i}`);
    if (previousHash !== undefined && previous !== previousHash)
      fail(`block ${number}: its header does not point at block ${number - 1}'s hash`);
    previousHash = blockHeaderHash(number, previous, dataHash);
    if (i === 0 && trust.genesis !== undefined && previousHash !== trust.genesis.toLowerCase())
      fail(`block 0: its hash ${previousHash} is not the channel's genesis block (--genesis)`);
  });
  if (bundle.headers.length - 1 !== bundle.head.number || previousHash !== bundle.head.hash)
    fail(`the head (block ${bundle.head.number}) is not the last header's hash`);
  if (bundle.head.number === 0)
    fail('the head is block 0, which no orderer signs: the bundle shows no ordered block');

  const decoded = new Map<number, DecodedBlock>();
  for (const { number, bytes } of bundle.blocks) {
    let block: DecodedBlock;
    try {
      block = decodeBlock(Buffer.from(bytes, 'base64'));
    } catch (error) {
      return fail(`block ${number}: not a Fabric block (${(error as Error).message})`);
    }
    const header = bundle.headers[number];
    if (block.number !== number || header === undefined || decoded.has(number))
      fail(`block ${number}: outside the chain (it says it is block ${block.number})`);
    if (block.computedDataHash !== block.dataHash)
      fail(`block ${number}: its transactions do not hash to its header's data hash`);
    if (header![1] !== block.previousHash || header![2] !== block.dataHash)
      fail(`block ${number}: its header differs from the chain's block ${number}`);
    for (const tx of block.transactions)
      if (tx.channelId !== trust.channel)
        fail(
          `block ${number} transaction ${tx.index}: made for channel ${JSON.stringify(tx.channelId)}, not ${trust.channel}`,
        );
    if (number === 0 && (block.transactions.length !== 1 || block.transactions[0]!.type !== 1))
      fail('block 0: the genesis block must hold exactly one config transaction and nothing else');
    decoded.set(number, block);
  }
  if (!decoded.has(bundle.head.number))
    fail(`the head block ${bundle.head.number} is not in the bundle`);

  const mspsCache = new Map<number, Map<string, ChannelMsp>>();
  const mspsOf = (block: DecodedBlock): Map<string, ChannelMsp> => {
    const config = block.lastConfig ?? 0;
    let msps = mspsCache.get(config);
    if (msps === undefined) {
      const configBlock = decoded.get(config);
      if (configBlock === undefined || config > block.number)
        return fail(`block ${block.number}: its config block ${config} is not in the bundle`);
      if (configBlock.transactions.length !== 1 || configBlock.transactions[0]!.type !== 1)
        fail(`block ${config}: a config block must hold exactly one config transaction`);
      const bytes = bundle.blocks.find((b) => b.number === config)!.bytes;
      try {
        msps = new Map(channelMsps(Buffer.from(bytes, 'base64')).map((m) => [m.mspId, m]));
      } catch (error) {
        return fail(`block ${config}: not a config block (${(error as Error).message})`);
      }
      // Every MSP the config names has exactly the roots the auditor pins for its id, and
      // the role the auditor gives it: the bundle's config decides nothing.
      for (const channelMsp of msps.values()) {
        const pinned = pinnedFor(trust, channelMsp.mspId);
        if (pinned === undefined)
          fail(
            `block ${config}: the config names MSP ${channelMsp.mspId}, whose CA the auditor does not pin`,
          );
        let roots: X509Certificate[];
        try {
          roots = channelMsp.rootCertificates.map((pem) => new X509Certificate(pem));
        } catch {
          return fail(`block ${config}: ${channelMsp.mspId}'s root CA cannot be parsed`);
        }
        if (fingerprints(roots) !== fingerprints(pinned!))
          fail(
            `block ${config}: the config gives ${channelMsp.mspId} root CAs other than the ones the auditor pins for ${channelMsp.mspId}`,
          );
        if (channelMsp.orderer !== Object.hasOwn(trust.orderers, channelMsp.mspId))
          fail(
            `block ${config}: the config makes ${channelMsp.mspId} ${channelMsp.orderer ? 'an ordering organisation, which the auditor does not name as orderer' : 'no ordering organisation, which the auditor names as orderer'}`,
          );
      }
      mspsCache.set(config, msps);
    }
    return msps;
  };

  type Written = { value: string; where: string };
  const written = new Map<string, Written>();
  let transactions = 0;
  const majority = Math.floor(banks.length / 2) + 1;
  for (const block of [...decoded.values()].sort((a, b) => a.number - b.number)) {
    const msps = mspsOf(block);
    // The genesis block is not signed (configtxgen writes it); the hash chain from the signed
    // head vouches for it, and nothing in it counts but its config. Every other block must
    // carry an orderer's signature, from an MSP the auditor names as orderer.
    if (block.number === 0) continue;
    if (block.ordererSignatures.length === 0) fail(`block ${block.number}: no orderer signature`);
    for (const signature of block.ordererSignatures) {
      const { mspId } = signature.signer;
      const problem = Object.hasOwn(trust.orderers, mspId)
        ? signatureProblem(signature, msps, trust.orderers[mspId]!, 'orderer')
        : `signed by ${mspId}, not an orderer organisation the auditor names`;
      if (problem !== undefined) fail(`block ${block.number}: orderer signature: ${problem}`);
    }
    for (const tx of block.transactions) {
      const writes = tx.writes.filter((w) => w.namespace === chaincode);
      // Only what the peers validated and applied: an invalid transaction changed no state.
      if (tx.validationCode !== 0 || writes.length === 0) continue;
      const where = `block ${block.number} transaction ${tx.txId}`;
      if (tx.creator === undefined) fail(`${where}: no creator`);
      const pinnedOf = (mspId: string) => pinnedFor(trust, mspId) ?? [];
      const creatorProblem = signatureProblem(
        tx.creator!,
        msps,
        pinnedOf(tx.creator!.signer.mspId),
      );
      if (creatorProblem !== undefined) fail(`${where}: creator: ${creatorProblem}`);
      const endorsers = new Set<string>();
      for (const endorsement of tx.endorsements) {
        const { mspId } = endorsement.signer;
        const problem = signatureProblem(endorsement, msps, pinnedOf(mspId), 'peer');
        if (problem !== undefined) fail(`${where}: endorsement: ${problem}`);
        endorsers.add(mspId);
      }
      const banksEndorsing = banks.filter((bank) => endorsers.has(bank));
      if (banksEndorsing.length < majority)
        fail(
          `${where}: endorsed by ${banksEndorsing.join(', ') || 'no bank'}, not a majority of the ${banks.length} banks the auditor pins`,
        );
      transactions++;
      for (const write of writes)
        if (write.value === undefined) written.delete(write.key);
        else written.set(write.key, { value: write.value, where });
    }
  }
  checkLineage(bundle, (key) => written.get(key), fail);
  return {
    blocks: bundle.blocks.length,
    signedBlocks: bundle.blocks.filter((b) => b.number > 0).length,
    head: bundle.head.number,
    rounds: bundle.lineage.length,
    proofs: bundle.inclusionProofs.length,
    transactions,
  };
}
