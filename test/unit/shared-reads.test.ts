import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { SharedReads } from '../../services/coordinator/shared-reads.ts';

describe('SharedReads', () => {
  it('reads each key once for readers that keep pace, and holds nothing once all have taken it', () => {
    const reads: number[] = [];
    const shared = new SharedReads<string>(3, 4);
    for (let key = 0; key < 10; key++)
      for (let reader = 0; reader < 3; reader++)
        expect(shared.get(key, () => (reads.push(key), `upload ${key}`))).toBe(`upload ${key}`);
    expect(reads).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(shared.size).toBe(0);
  });

  it('never holds more than its capacity; a reader left behind reads again for itself', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 80 }),
        (readers, capacity, schedule) => {
          // Each reader walks keys 0…7 in order; the schedule says who takes its next key.
          const next = Array.from({ length: readers }, () => 0);
          const shared = new SharedReads<number>(readers, capacity);
          let reads = 0;
          for (const pick of schedule) {
            const reader = pick % readers;
            if (next[reader]! >= 8) continue;
            const key = next[reader]!++;
            expect(shared.get(key, () => (reads++, key * 10))).toBe(key * 10);
            expect(shared.size).toBeLessThanOrEqual(readers > 1 ? capacity : 0);
          }
          const taken = next.reduce((sum, n) => sum + n, 0);
          expect(reads).toBeLessThanOrEqual(taken);
          expect(reads).toBeGreaterThanOrEqual(Math.max(...next));
        },
      ),
    );
  });

  it('keeps nothing for a single reader', () => {
    const shared = new SharedReads<number>(1, 4);
    let reads = 0;
    shared.get(1, () => ++reads);
    shared.get(1, () => ++reads);
    expect(reads).toBe(2);
    expect(shared.size).toBe(0);
  });
});
