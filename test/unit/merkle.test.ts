import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  merkleProof,
  merkleRoot,
  merkleRootFromProof,
  merkleTree,
  verifyMerkleProof,
} from '../../crypto/merkle.ts';

const leavesArb = fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
  minLength: 1,
  maxLength: 40,
});

describe('Merkle commitments', () => {
  it('every leaf has a proof that verifies against the root', () => {
    fc.assert(
      fc.property(leavesArb, (leaves) => {
        const root = merkleRoot(leaves);
        leaves.forEach((leaf, i) =>
          expect(verifyMerkleProof(leaf, merkleProof(leaves, i), root)).toBe(true),
        );
      }),
    );
  });

  it('a proof does not verify for another leaf, another root, or a tampered step', () => {
    fc.assert(
      fc.property(
        leavesArb.filter((l) => l.length >= 2),
        (leaves) => {
          const root = merkleRoot(leaves);
          const proof = merkleProof(leaves, 0);
          const other = leaves[1]!;
          if (!Buffer.from(other).equals(Buffer.from(leaves[0]!)))
            expect(verifyMerkleProof(other, proof, root)).toBe(false);
          const tampered = proof.map((step, i) =>
            i === 0 ? { ...step, sibling: step.sibling.map((b) => b ^ 1) } : step,
          );
          expect(verifyMerkleProof(leaves[0]!, tampered, root)).toBe(false);
          expect(verifyMerkleProof(leaves[0]!, proof, merkleRoot(leaves.slice(1)))).toBe(false);
        },
      ),
    );
  });

  it('distinguishes a leaf from an inner node (second-preimage resistance of the encoding)', () => {
    const a = new Uint8Array(32).fill(1);
    const b = new Uint8Array(32).fill(2);
    const inner = merkleRoot([a, b]);
    expect(merkleRoot([inner])).not.toEqual(inner);
  });

  it('merkleTree gives every leaf the path merkleProof gives it, and the same root', () => {
    for (let count = 1; count <= 9; count++) {
      const leaves = Array.from({ length: count }, (_, i) => new Uint8Array(8).fill(i + 1));
      const { root, proofs } = merkleTree(leaves);
      expect(root).toEqual(merkleRoot(leaves));
      leaves.forEach((leaf, i) => {
        expect(proofs[i]).toEqual(merkleProof(leaves, i));
        expect(merkleRootFromProof(leaf, proofs[i]!)).toEqual(root);
      });
    }
  });
});
