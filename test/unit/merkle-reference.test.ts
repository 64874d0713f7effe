import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  merkleProof,
  merkleRoot,
  merkleRootFromProof,
  merkleTree,
  type MerkleProofStep,
} from '../../crypto/merkle.ts';
import { encodeFields } from '../../crypto/bytes.ts';
import { shareBoxLeaf } from '../../crypto/secagg/transcript.ts';

/** RFC 6962 §2.1 as written: SHA-256 of the prefix and the parts, a fresh Hash object each. */
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
};
const leafHash = (leaf: Uint8Array) => sha256(Uint8Array.of(0), leaf);
const nodeHash = (left: Uint8Array, right: Uint8Array) => sha256(Uint8Array.of(1), left, right);

function referenceLevels(leaves: readonly Uint8Array[]): Uint8Array[][] {
  const levels = [leaves.map(leafHash)];
  while (levels[levels.length - 1]!.length > 1) {
    const level = levels[levels.length - 1]!;
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2)
      next.push(i + 1 < level.length ? nodeHash(level[i]!, level[i + 1]!) : level[i]!);
    levels.push(next);
  }
  return levels;
}

function referenceProof(leaves: readonly Uint8Array[], index: number): MerkleProofStep[] {
  const proof: MerkleProofStep[] = [];
  let position = index;
  for (const level of referenceLevels(leaves).slice(0, -1)) {
    const sibling = position % 2 === 0 ? position + 1 : position - 1;
    if (sibling < level.length)
      proof.push({ sibling: level[sibling]!, siblingOnLeft: sibling < position });
    position >>= 1;
  }
  return proof;
}

/** Leaves of every length the hashing treats differently: empty, digest-sized, past its buffer. */
const leafArb = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 40 }),
  fc.uint8Array({ minLength: 280, maxLength: 300 }),
  fc.uint8Array({ minLength: 1020, maxLength: 1100 }),
);
const leavesArb = fc.array(leafArb, { minLength: 1, maxLength: 20 });

describe('Merkle hashing against RFC 6962 written out', () => {
  it('gives the same root, the same paths and the same root from each path', () => {
    fc.assert(
      fc.property(leavesArb, (leaves) => {
        const levels = referenceLevels(leaves);
        const root = levels[levels.length - 1]![0]!;
        expect(merkleRoot(leaves)).toEqual(root);
        const tree = merkleTree(leaves);
        expect(tree.root).toEqual(root);
        leaves.forEach((leaf, i) => {
          const proof = referenceProof(leaves, i);
          expect(tree.proofs[i]).toEqual(proof);
          expect(merkleProof(leaves, i)).toEqual(proof);
          expect(merkleRootFromProof(leaf, proof)).toEqual(root);
        });
      }),
      { numRuns: 60 },
    );
  });

  it('hashes a path whose siblings are not digest-sized (as sent) as their concatenation', () => {
    fc.assert(
      fc.property(
        leafArb,
        fc.array(
          fc.record({ sibling: fc.uint8Array({ maxLength: 70 }), siblingOnLeft: fc.boolean() }),
          { maxLength: 6 },
        ),
        (leaf, proof) => {
          let expected = leafHash(leaf);
          for (const step of proof)
            expected = step.siblingOnLeft
              ? nodeHash(step.sibling, expected)
              : nodeHash(expected, step.sibling);
          expect(merkleRootFromProof(leaf, proof)).toEqual(expected);
        },
      ),
    );
  });

  it('hands out digests of their own: later hashing changes none of them', () => {
    const leaves = [1, 2, 3, 4, 5].map((n) => new Uint8Array(33).fill(n));
    const { root, proofs } = merkleTree(leaves);
    const before = [root, ...proofs.flat().map((step) => step.sibling)].map((d) =>
      Uint8Array.from(d),
    );
    merkleTree([new Uint8Array(2000), new Uint8Array(64).fill(9), new Uint8Array(5)]);
    merkleRootFromProof(new Uint8Array(7), [
      { sibling: new Uint8Array(32).fill(7), siblingOnLeft: true },
    ]);
    const after = [root, ...proofs.flat().map((step) => step.sibling)];
    expect(after).toEqual(before);
    for (const digest of after) expect(digest.buffer.byteLength).toBe(32);
    expect(merkleRoot([])).toEqual(sha256());
  });
});

describe('shareBoxLeaf', () => {
  it('is encodeFields of its label, recipient, key and ciphertext, byte for byte', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom(0, 1, 0xffff, 0x10000, 0xffffffff),
          fc.integer({ min: 1, max: 0xffff }),
        ),
        fc.uint8Array({ minLength: 0, maxLength: 40 }),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        (recipient, key, ciphertext) => {
          expect(shareBoxLeaf(recipient, key, ciphertext)).toEqual(
            encodeFields('veilsum/v1/secagg/share-box', recipient, key, ciphertext),
          );
        },
      ),
    );
  });
});
