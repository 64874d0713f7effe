import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { seededRandom } from '../../crypto/random.ts';
import { completeGraph, hararyGraph } from '../../crypto/secagg/graph.ts';

const sparseArb = fc
  .integer({ min: 5, max: 300 })
  .chain((size) =>
    fc.record({
      size: fc.constant(size),
      half: fc.integer({ min: 1, max: Math.floor((size - 2) / 2) }),
      seed: fc.nat(),
    }),
  )
  .filter(({ size, half }) => 2 * half < size - 1);

describe('neighbour graphs', () => {
  it('Harary graphs over a shuffled ring are k-regular, symmetric and loop-free', () => {
    fc.assert(
      fc.property(sparseArb, ({ size, half, seed }) => {
        const graph = hararyGraph(size, 2 * half, seededRandom(seed));
        const problems: string[] = [];
        for (let a = 1; a <= size; a++) {
          const neighbours = graph.neighbours(a);
          if (neighbours.length !== 2 * half || new Set(neighbours).size !== 2 * half)
            problems.push(`${a}: degree`);
          if (neighbours.includes(a)) problems.push(`${a}: self-loop`);
          for (const b of neighbours) {
            if (!graph.neighbours(b).includes(a)) problems.push(`${a}-${b}: asymmetric`);
            if (!graph.areNeighbours(a, b)) problems.push(`${a}-${b}: areNeighbours`);
          }
        }
        expect(problems).toEqual([]);
        const edges = Array.from({ length: size }, (_, i) => graph.neighbours(i + 1).length).reduce(
          (x, y) => x + y,
          0,
        );
        expect(edges).toBe(size * 2 * half);
      }),
      { numRuns: 60 },
    );
  });

  it('areNeighbours agrees with the neighbour lists', () => {
    const graph = hararyGraph(40, 6, seededRandom(3));
    for (let a = 1; a <= 40; a++) {
      for (let b = 1; b <= 40; b++)
        expect(graph.areNeighbours(a, b)).toBe(graph.neighbours(a).includes(b));
    }
  });

  it('is a function of its seed, and different seeds give different graphs', () => {
    const lists = (seed: number) =>
      Array.from({ length: 50 }, (_, i) =>
        hararyGraph(50, 8, seededRandom(seed)).neighbours(i + 1),
      );
    expect(lists(1)).toEqual(lists(1));
    expect(lists(1)).not.toEqual(lists(2));
  });

  it('is not the unshuffled ring: neighbours are not simply index ± 1', () => {
    const graph = hararyGraph(100, 2, seededRandom(9));
    const ringLike = Array.from({ length: 100 }, (_, i) => i + 1).filter((a) =>
      graph.neighbours(a).every((b) => Math.abs(a - b) === 1 || Math.abs(a - b) === 99),
    );
    expect(ringLike.length).toBeLessThan(10);
  });

  it('becomes the complete graph at degree n − 1', () => {
    const graph = hararyGraph(7, 6, seededRandom(1));
    expect(graph.complete).toBe(true);
    expect(graph.neighbours(3)).toEqual([1, 2, 4, 5, 6, 7]);
    expect(completeGraph(4).areNeighbours(2, 2)).toBe(false);
  });

  it('rejects odd sparse degrees and out-of-range indices', () => {
    expect(() => hararyGraph(10, 3, seededRandom(1))).toThrow(/even/);
    expect(() => completeGraph(5).neighbours(6)).toThrow(/participant index/);
  });
});
