import { createHash } from 'node:crypto';
import type { Block } from '../../ledger/embedded/embedded-ledger.ts';
import { blockHash } from '../../ledger/embedded/embedded-ledger.ts';
import { BlockSignatureVerifier } from '../../ledger/embedded/block-signature.ts';
import type { Lineage } from '../../ledger/records.ts';
import { proofFromReceipts, type InclusionProofJson } from './pages/verify-page.ts';

/**
 * Evidence a regulator verifies offline: for one model version, every block that wrote what its
 * lineage rests on (the model version, its rounds, their members' consents and revocations, the
 * rounds' phase commits and misbehaviour records), whole and signed, the hash links of every
 * block from the first to the head, and the inclusion proofs the receipts allow. Built only from
 * the ledger, with sorted keys and no wall-clock time: the same ledger gives the same bytes.
 */
export interface EvidenceBundle {
  readonly format: 'veilsum-evidence/1';
  readonly modelHash: string;
  readonly head: { readonly number: number; readonly hash: string };
  /** number, previousHash, hash of every block 1..head: the chain the full blocks sit in. */
  readonly links: readonly (readonly [number, string, string])[];
  readonly blocks: readonly Block[];
  readonly lineage: readonly Lineage[];
  readonly inclusionProofs: readonly InclusionProofJson[];
}

/** The ids of the records a lineage rests on. */
export interface LineageIds {
  readonly models: Set<string>;
  readonly rounds: Set<string>;
  readonly consents: Set<string>;
}

export function lineageIds(lineages: readonly Lineage[]): LineageIds {
  return {
    models: new Set(lineages.map((l) => l.modelVersion.modelHash)),
    rounds: new Set(lineages.map((l) => l.round.roundId)),
    consents: new Set(lineages.flatMap((l) => l.contributions.map((c) => c.consent.consentId))),
  };
}

/** Whether the ledger key `key` holds a record the lineage rests on. */
export function touchesKey(key: string, ids: LineageIds): boolean {
  const slash = key.indexOf('/');
  const kind = key.slice(0, slash);
  const rest = key.slice(slash + 1);
  if (kind === 'model') return ids.models.has(rest);
  if (kind === 'consent') return ids.consents.has(rest);
  if (kind === 'round') return ids.rounds.has(rest);
  if (kind === 'round-phase')
    return [...ids.rounds].some((roundId) => rest.startsWith(`${roundId}/`));
  // round-misbehaviour/<round>|<member> (ledger/contract.ts: ids never contain '|')
  if (kind === 'round-misbehaviour')
    return [...ids.rounds].some((roundId) => rest.startsWith(`${roundId}|`));
  return false;
}

/** Whether a block wrote a record the lineage rests on. */
function touches(block: Block, ids: LineageIds): boolean {
  return block.writes.some(([key]) => touchesKey(key, ids));
}

export function buildEvidenceBundle(
  modelHash: string,
  lineages: readonly Lineage[],
  blocks: readonly Block[],
): EvidenceBundle {
  const ids = lineageIds(lineages);
  const head = blocks.at(-1);
  if (head === undefined) throw new Error('the ledger has no blocks');
  return {
    format: 'veilsum-evidence/1',
    modelHash,
    head: { number: head.number, hash: head.hash },
    links: blocks.map((b) => [b.number, b.previousHash, b.hash] as const),
    blocks: blocks.filter((block) => touches(block, ids)),
    lineage: lineages,
    inclusionProofs: lineages.flatMap((l) =>
      l.round.included
        .map((member) => proofFromReceipts(l.round, member))
        .filter((proof) => proof !== undefined),
    ),
  };
}

/** Canonical JSON: keys sorted at every level, so equal bundles are equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}

export function bundleSha256(bundle: object): string {
  return createHash('sha256').update(canonicalJson(bundle)).digest('hex');
}

export class BundleVerificationError extends Error {
  override name = 'BundleVerificationError';
}

/**
 * Checks a bundle offline against the consortium CA: every full block's hash recomputed and its
 * writer's signature checked, the links contiguous from block 1 to the head, every full block in
 * them, and the lineage's records equal to what the blocks wrote. Throws naming the first record
 * that fails; returns a summary otherwise.
 */
export function verifyEvidenceBundle(
  bundle: EvidenceBundle,
  caCertificatePem: string | Buffer,
): { blocks: number; head: number; rounds: number; proofs: number } {
  const fail = (what: string): never => {
    throw new BundleVerificationError(what);
  };
  if (bundle.format !== 'veilsum-evidence/1')
    fail(`unknown bundle format ${String(bundle.format)}`);
  const verifier = new BlockSignatureVerifier(caCertificatePem);
  let previous = '0'.repeat(64);
  bundle.links.forEach(([number, previousHash, hash], i) => {
    if (number !== i + 1) fail(`link ${i}: block number ${number}, expected ${i + 1}`);
    if (previousHash !== previous)
      fail(`block ${number}: its link does not point at block ${number - 1}'s hash`);
    previous = hash;
  });
  const last = bundle.links.at(-1);
  if (last === undefined || last[0] !== bundle.head.number || last[2] !== bundle.head.hash)
    fail(`the head (block ${bundle.head.number}) is not the last link`);
  const written = new Map<string, string>();
  for (const block of bundle.blocks) {
    const link = bundle.links[block.number - 1];
    if (link === undefined) fail(`block ${block.number} is outside the chain`);
    const { hash: _hash, signature: _signature, ...content } = block;
    const recomputed = blockHash(content);
    if (recomputed !== block.hash || link![2] !== block.hash || link![1] !== block.previousHash)
      fail(
        `block ${block.number} (${block.fn} by ${block.caller}): its contents do not hash to the chain's block hash`,
      );
    const problem = verifier.problem(block, block.certificate, block.signature);
    if (problem !== undefined)
      fail(`block ${block.number} (${block.fn} by ${block.caller}): ${problem}`);
    for (const [key, value] of block.writes) written.set(key, value);
  }
  checkLineage(bundle, (key) => written.get(key), fail);
  return {
    blocks: bundle.blocks.length,
    head: bundle.head.number,
    rounds: bundle.lineage.length,
    proofs: bundle.inclusionProofs.length,
  };
}

/**
 * The lineage's records equal to what the ledger wrote (`written`: a key's last value in the
 * bundle's blocks, and where), and every inclusion proof the one the round's receipts give.
 */
export function checkLineage(
  bundle: Pick<EvidenceBundle, 'modelHash' | 'lineage' | 'inclusionProofs'>,
  written: (key: string) => string | { value: string; where: string } | undefined,
  fail: (what: string) => never,
): void {
  const mustEqual = (key: string, record: unknown, what: string) => {
    const found = written(key);
    if (found === undefined) fail(`${what}: no block in the bundle wrote ${key}`);
    const { value, where } = typeof found === 'string' ? { value: found, where: 'block' } : found;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    if (canonicalJson(parsed) !== canonicalJson(record))
      fail(`${what}: differs from what ${where} wrote ${key}`);
  };
  // The lineage is the bundle's model version's: it ends with that version, after the same
  // model's earlier versions (each once, recorded no later); and each entry's records belong
  // together: the model version's round, and that round's consents for the members it included.
  const last = bundle.lineage.at(-1)?.modelVersion;
  if (last === undefined || last.modelHash !== bundle.modelHash)
    fail(
      `model version ${bundle.modelHash}: the bundle's lineage does not end with it (it ends with ${last?.modelHash ?? 'nothing'})`,
    );
  const seen = new Set<string>();
  for (const { modelVersion, round, contributions } of bundle.lineage) {
    if (
      seen.has(modelVersion.modelHash) ||
      modelVersion.modelId !== last.modelId ||
      modelVersion.recordedAt > last.recordedAt
    )
      fail(
        `model version ${modelVersion.modelHash}: not an earlier version of model ${last.modelId} in the lineage of ${bundle.modelHash}`,
      );
    seen.add(modelVersion.modelHash);
    if (round.roundId !== modelVersion.roundId)
      fail(
        `model version ${modelVersion.modelHash}: its round is ${modelVersion.roundId}, the lineage shows round ${round.roundId}`,
      );
    const expected = round.included.map((memberId) => ({
      memberId,
      // null, not undefined: canonical JSON drops undefined, and a missing consent must not
      // compare equal to another member's.
      consentId: round.consents.find((c) => c.memberId === memberId)?.consentId ?? null,
    }));
    const shown = contributions.map(({ memberId, consent }) => ({
      memberId,
      consentId: consent.memberId === memberId ? consent.consentId : null,
    }));
    if (canonicalJson(shown) !== canonicalJson(expected))
      fail(
        `round ${round.roundId}: the lineage's contributions are not the consents the round recorded for the members it included`,
      );
    mustEqual(
      `model/${modelVersion.modelHash}`,
      modelVersion,
      `model version ${modelVersion.modelHash}`,
    );
    mustEqual(`round/${round.roundId}`, round, `round ${round.roundId}`);
    for (const { consent } of contributions)
      mustEqual(`consent/${consent.consentId}`, consent, `consent ${consent.consentId}`);
  }
  for (const proof of bundle.inclusionProofs) {
    const round = bundle.lineage.find((l) => l.round.roundId === proof.round)?.round;
    const expected = round ? proofFromReceipts(round, proof.member) : undefined;
    if (expected === undefined || canonicalJson(expected) !== canonicalJson(proof))
      fail(
        `inclusion proof of ${proof.member} in ${proof.round}: does not lead to the round's Merkle root`,
      );
  }
}
