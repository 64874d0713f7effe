import { sha256 } from './sha256.ts';

/**
 * Merkle tree hash in the style of RFC 6962 §2.1 (Certificate Transparency): leaves and inner
 * nodes are hashed with distinct prefixes (0x00, 0x01) so a leaf can never pose as a node, and an
 * odd node is carried up unpaired. Used for the per-client upload commitments of a round.
 */
const DIGEST_BYTES = 32;
const LEAF = 0x00;
const NODE = 0x01;

/**
 * The prefixed inputs are written into buffers kept here and hashed one-shot (sha256.ts: no
 * concatenation allocated per node; a sender's tree is ~2k hashes, and the
 * coordinator builds one per ShareKeys message). Synchronous, so never shared between two hashes;
 * each digest is a fresh Uint8Array, never a view of these buffers.
 */
const leafInput = new Uint8Array(1024);
const nodeInput = new Uint8Array(1 + 2 * DIGEST_BYTES);

/** SHA-256(0x00 ‖ leaf). */
function hashLeaf(leaf: Uint8Array): Uint8Array {
  const length = 1 + leaf.length;
  // A long leaf gets its own buffer: the kept one stays small (a share-box leaf is ~290 bytes).
  const input = length <= leafInput.length ? leafInput.subarray(0, length) : new Uint8Array(length);
  input[0] = LEAF;
  input.set(leaf, 1);
  return sha256(input);
}

/** SHA-256(0x01 ‖ left ‖ right); children of any length (a proof's siblings come off the wire). */
function hashNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length === DIGEST_BYTES && right.length === DIGEST_BYTES) {
    nodeInput[0] = NODE;
    nodeInput.set(left, 1);
    nodeInput.set(right, 1 + DIGEST_BYTES);
    return sha256(nodeInput);
  }
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = NODE;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

/** The next level up: pairs hashed, an odd last node carried up unpaired. */
function parentLevel(level: readonly Uint8Array[]): Uint8Array[] {
  const next: Uint8Array[] = [];
  for (let i = 0; i < level.length; i += 2)
    next.push(i + 1 < level.length ? hashNode(level[i]!, level[i + 1]!) : level[i]!);
  return next;
}

export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  let level = leaves.map(hashLeaf);
  while (level.length > 1) {
    level = parentLevel(level);
  }
  return level[0]!;
}

export interface MerkleProofStep {
  readonly sibling: Uint8Array;
  readonly siblingOnLeft: boolean;
}

/** The sibling path from leaf `index` to the root. */
export function merkleProof(leaves: readonly Uint8Array[], index: number): MerkleProofStep[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) {
    throw new RangeError(`leaf index ${index} is outside a tree of ${leaves.length} leaves`);
  }
  let level = leaves.map(hashLeaf);
  let position = index;
  const proof: MerkleProofStep[] = [];
  while (level.length > 1) {
    const sibling = position % 2 === 0 ? position + 1 : position - 1;
    if (sibling < level.length)
      proof.push({ sibling: level[sibling]!, siblingOnLeft: sibling < position });
    level = parentLevel(level);
    position = Math.floor(position / 2);
  }
  return proof;
}

/**
 * The root and every leaf's sibling path, hashing each node once (merkleProof per leaf would hash
 * the whole tree again for each: O(n²) for n paths).
 */
export function merkleTree(leaves: readonly Uint8Array[]): {
  readonly root: Uint8Array;
  readonly proofs: MerkleProofStep[][];
} {
  if (leaves.length === 0) return { root: sha256(new Uint8Array(0)), proofs: [] };
  let level = leaves.map(hashLeaf);
  const proofs: MerkleProofStep[][] = leaves.map(() => []);
  // Where each leaf's ancestor sits on the current level.
  const positions = leaves.map((_, i) => i);
  while (level.length > 1) {
    for (let leaf = 0; leaf < positions.length; leaf++) {
      const position = positions[leaf]!;
      const sibling = position % 2 === 0 ? position + 1 : position - 1;
      if (sibling < level.length)
        proofs[leaf]!.push({ sibling: level[sibling]!, siblingOnLeft: sibling < position });
      positions[leaf] = position >> 1;
    }
    level = parentLevel(level);
  }
  return { root: level[0]!, proofs };
}

/** The root a leaf and its sibling path lead to. */
export function merkleRootFromProof(
  leaf: Uint8Array,
  proof: readonly MerkleProofStep[],
): Uint8Array {
  let node = hashLeaf(leaf);
  for (const step of proof)
    node = step.siblingOnLeft ? hashNode(step.sibling, node) : hashNode(node, step.sibling);
  return node;
}

export function verifyMerkleProof(
  leaf: Uint8Array,
  proof: readonly MerkleProofStep[],
  root: Uint8Array,
): boolean {
  return Buffer.from(merkleRootFromProof(leaf, proof)).equals(Buffer.from(root));
}
