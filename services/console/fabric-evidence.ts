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
  checkLineage,
  lineageIds,
  touchesKey,
} from './evidence-bundle.ts';
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

/**
 * Builds Fabric evidence bundles from the console's own peer. Block summaries (header, keys
 * written) are kept once read: blocks never change, so a second export reads only new ones.
 */
export class FabricEvidenceBuilder {
  private readonly source: FabricBlockSource;
  private readonly summaries: BlockSummary[] = [];

  constructor(source: FabricBlockSource) {
    this.source = source;
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
      const block = decodeBlock(await this.source.blockBytes(number));
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

  async build(modelHash: string, lineages: readonly Lineage[]): Promise<FabricEvidenceBundle> {
    const height = await this.source.height();
    if (height <= 0) throw new Error('the channel has no blocks');
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
        bytes: Buffer.from(await this.source.blockBytes(number)).toString('base64'),
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

/** The PEM certificates in a file's text (a bundle of one or more CAs). */
export function pemCertificates(text: string): X509Certificate[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
    (match) => new X509Certificate(match[0]),
  );
}

/**
 * Checks a Fabric bundle offline against the CAs the auditor pins (`trusted`; the bundle's own
 * MSP certificates alone prove nothing — whoever made the bundle chose them): the headers form
 * one hash chain from block 0 to the head; every whole block hashes to its header (data hash
 * recomputed from its transactions) and is signed by an orderer of the channel; every valid
 * transaction of the chaincode in them carries its creator's signature and endorsements from a
 * majority of the channel's banks, each from a certificate issued by its MSP's CA in the config
 * block in force AND chaining to a trusted CA; the lineage's records equal the values those
 * transactions wrote; each inclusion proof leads to its round's Merkle root. Throws naming the
 * first block, transaction or record that fails.
 */
export function verifyFabricEvidenceBundle(
  bundle: FabricEvidenceBundle,
  trusted: readonly X509Certificate[],
): { blocks: number; head: number; rounds: number; proofs: number; transactions: number } {
  const fail = (what: string): never => {
    throw new BundleVerificationError(what);
  };
  if (bundle.format !== 'veilsum-fabric-evidence/1')
    fail(`unknown bundle format ${String(bundle.format)}`);
  if (trusted.length === 0)
    fail('no trusted CA given: a bundle that carries its own CAs proves nothing by itself');
  // The chain of headers, from block 0 to the head.
  let previousHash: string | undefined;
  bundle.headers.forEach(([number, previous, dataHash], i) => {
    if (number !== i) fail(`header ${i}: block number ${number}, expected ${i}`);
    if (previousHash !== undefined && previous !== previousHash)
      fail(`block ${number}: its header does not point at block ${number - 1}'s hash`);
    previousHash = blockHeaderHash(number, previous, dataHash);
  });
  if (bundle.headers.length - 1 !== bundle.head.number || previousHash !== bundle.head.hash)
    fail(`the head (block ${bundle.head.number}) is not the last header's hash`);

  const decoded = new Map<number, DecodedBlock>();
  for (const { number, bytes } of bundle.blocks) {
    let block: DecodedBlock;
    try {
      block = decodeBlock(Buffer.from(bytes, 'base64'));
    } catch (error) {
      return fail(`block ${number}: not a Fabric block (${(error as Error).message})`);
    }
    const header = bundle.headers[number];
    if (block.number !== number || header === undefined)
      fail(`block ${number}: outside the chain (it says it is block ${block.number})`);
    if (block.computedDataHash !== block.dataHash)
      fail(`block ${number}: its transactions do not hash to its header's data hash`);
    if (header![1] !== block.previousHash || header![2] !== block.dataHash)
      fail(`block ${number}: its header differs from the chain's block ${number}`);
    decoded.set(number, block);
  }
  const head = decoded.get(bundle.head.number);
  if (head === undefined) fail(`the head block ${bundle.head.number} is not in the bundle`);

  const trustedCas = [...trusted];
  const mspsCache = new Map<number, Map<string, ChannelMsp>>();
  const mspsOf = (block: DecodedBlock): Map<string, ChannelMsp> => {
    const config = block.lastConfig ?? 0;
    let msps = mspsCache.get(config);
    if (msps === undefined) {
      const bytes = bundle.blocks.find((b) => b.number === config)?.bytes;
      if (bytes === undefined || !decoded.has(config))
        fail(`block ${block.number}: its config block ${config} is not in the bundle`);
      try {
        msps = new Map(channelMsps(Buffer.from(bytes!, 'base64')).map((m) => [m.mspId, m]));
      } catch (error) {
        return fail(`block ${config}: not a config block (${(error as Error).message})`);
      }
      mspsCache.set(config, msps);
    }
    return msps;
  };

  type Written = { value: string; where: string };
  const written = new Map<string, Written>();
  let transactions = 0;
  for (const block of [...decoded.values()].sort((a, b) => a.number - b.number)) {
    const msps = mspsOf(block);
    // The genesis block is not signed (configtxgen writes it); the hash chain from the signed
    // head vouches for it. Every other block must carry its orderer's signature.
    if (block.ordererSignatures.length === 0 && block.number !== 0)
      fail(`block ${block.number}: no orderer signature`);
    for (const signature of block.ordererSignatures) {
      const problem = msps.get(signature.signer.mspId)?.orderer
        ? signatureProblem(signature, msps, trustedCas, 'orderer')
        : `signed by ${signature.signer.mspId}, not an orderer organisation`;
      if (problem !== undefined) fail(`block ${block.number}: orderer signature: ${problem}`);
    }
    const banks = [...msps.values()].filter((m) => m.hasPeers).map((m) => m.mspId);
    const majority = Math.floor(banks.length / 2) + 1;
    for (const tx of block.transactions) {
      const writes = tx.writes.filter((w) => w.namespace === bundle.chaincode);
      // Only what the peers validated and applied: an invalid transaction changed no state.
      if (tx.validationCode !== 0 || writes.length === 0) continue;
      const where = `block ${block.number} transaction ${tx.txId}`;
      if (tx.creator === undefined) fail(`${where}: no creator`);
      const creatorProblem = signatureProblem(tx.creator!, msps, trustedCas);
      if (creatorProblem !== undefined) fail(`${where}: creator: ${creatorProblem}`);
      const endorsers = new Set<string>();
      for (const endorsement of tx.endorsements) {
        const problem = signatureProblem(endorsement, msps, trustedCas, 'peer');
        if (problem !== undefined) fail(`${where}: endorsement: ${problem}`);
        endorsers.add(endorsement.signer.mspId);
      }
      const banksEndorsing = banks.filter((bank) => endorsers.has(bank));
      if (banksEndorsing.length < majority)
        fail(
          `${where}: endorsed by ${banksEndorsing.join(', ') || 'no bank'}, not a majority of the channel's ${banks.length} banks`,
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
    head: bundle.head.number,
    rounds: bundle.lineage.length,
    proofs: bundle.inclusionProofs.length,
    transactions,
  };
}
