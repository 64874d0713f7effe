import { hash } from 'node:crypto';

/**
 * Merkle tree hash in the style of RFC 6962 §2.1 (Certificate Transparency): leaves and inner
 * nodes are hashed with distinct prefixes (0x00, 0x01) so a leaf can never pose as a node, and an
 * odd node is carried up unpaired. Used for the per-client upload commitments of a round.
 */
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  // One-shot over the concatenation: no Hash object per node (a sender's tree is 2k hashes).
  let input: Uint8Array;
  if (parts.length === 1) input = parts[0]!;
  else {
    let length = 0;
    for (const part of parts) length += part.length;
    input = new Uint8Array(length);
    let offset = 0;
    for (const part of parts) {
      input.set(part, offset);
      offset += part.length;
    }
  }
  return new Uint8Array(hash('sha256', input, 'buffer'));
};
const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256();
  let level = leaves.map((leaf) => sha256(LEAF, leaf));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? sha256(NODE, level[i]!, level[i + 1]!) : level[i]!);
    }
    level = next;
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
  let level = leaves.map((leaf) => sha256(LEAF, leaf));
  let position = index;
  const proof: MerkleProofStep[] = [];
  while (level.length > 1) {
    const sibling = position % 2 === 0 ? position + 1 : position - 1;
    if (sibling < level.length)
      proof.push({ sibling: level[sibling]!, siblingOnLeft: sibling < position });
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? sha256(NODE, level[i]!, level[i + 1]!) : level[i]!);
    }
    level = next;
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
  if (leaves.length === 0) return { root: sha256(), proofs: [] };
  let level = leaves.map((leaf) => sha256(LEAF, leaf));
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
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? sha256(NODE, level[i]!, level[i + 1]!) : level[i]!);
    }
    level = next;
  }
  return { root: level[0]!, proofs };
}

/** The root a leaf and its sibling path lead to. */
export function merkleRootFromProof(
  leaf: Uint8Array,
  proof: readonly MerkleProofStep[],
): Uint8Array {
  let hash = sha256(LEAF, leaf);
  for (const step of proof)
    hash = step.siblingOnLeft ? sha256(NODE, step.sibling, hash) : sha256(NODE, hash, step.sibling);
  return hash;
}

export function verifyMerkleProof(
  leaf: Uint8Array,
  proof: readonly MerkleProofStep[],
  root: Uint8Array,
): boolean {
  return Buffer.from(merkleRootFromProof(leaf, proof)).equals(Buffer.from(root));
}
