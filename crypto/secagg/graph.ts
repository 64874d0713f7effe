import type { RandomSource } from '../random.ts';
import { assertInteger, CryptoInputError } from '../validate.ts';

/**
 * Who masks with whom. Participants are numbered 1..n (the number doubles as the Shamir
 * x-coordinate). SecAgg+ (Bell et al., CCS 2020, §3) replaces the complete graph of SecAgg with
 * a sparse k-regular graph; we build it as a Harary graph H(k, n) — each node joined to its k/2
 * nearest nodes on either side of a ring — over a uniformly shuffled ring, so that which clients
 * are adjacent is unpredictable to whoever does not know the graph seed.
 */
export interface NeighbourGraph {
  readonly size: number;
  readonly degree: number;
  readonly complete: boolean;
  /** Sorted neighbour indices of `index`, never including `index` itself. */
  neighbours(index: number): readonly number[];
  areNeighbours(a: number, b: number): boolean;
}

export function completeGraph(size: number): NeighbourGraph {
  assertInteger(size, 'number of participants', 2, 0xffff);
  const all = Array.from({ length: size }, (_, i) => i + 1);
  const cache = new Map<number, readonly number[]>();
  return {
    size,
    degree: size - 1,
    complete: true,
    neighbours(index) {
      assertIndex(index, size);
      let list = cache.get(index);
      if (list === undefined) {
        list = all.filter((other) => other !== index);
        cache.set(index, list);
      }
      return list;
    },
    areNeighbours(a, b) {
      assertIndex(a, size);
      assertIndex(b, size);
      return a !== b;
    },
  };
}

/** `random`: a stream for this graph alone (it is read ahead, in blocks). */
export function hararyGraph(size: number, degree: number, random: RandomSource): NeighbourGraph {
  assertInteger(size, 'number of participants', 3, 0xffff);
  assertInteger(degree, 'graph degree', 2, size - 1);
  if (degree >= size - 1) return completeGraph(size);
  if (degree % 2 !== 0) {
    throw new CryptoInputError(`Harary graph degree must be even, got ${degree}`);
  }
  // Fisher–Yates: ring[p] is the participant at ring position p. Each draw is randomBelow's
  // (rejection sampling on little-endian 32-bit words), read from 4 KiB blocks of the stream:
  // the same bytes, in the same order, as a read per draw.
  const word = wordReader(random);
  const ring = Array.from({ length: size }, (_, i) => i + 1);
  for (let i = size - 1; i > 0; i--) {
    const bound = i + 1;
    const limit = Math.floor(2 ** 32 / bound) * bound;
    let value = word();
    while (value >= limit) value = word();
    const j = value % bound;
    [ring[i], ring[j]] = [ring[j]!, ring[i]!];
  }
  const position = new Int32Array(size + 1);
  ring.forEach((participant, p) => (position[participant] = p));
  const half = degree / 2;
  // A member asks for its own neighbours (the server for everyone's): built on demand.
  const lists = new Map<number, readonly number[]>();
  return {
    size,
    degree,
    complete: false,
    neighbours(index) {
      assertIndex(index, size);
      let list = lists.get(index);
      if (list === undefined) {
        const p = position[index]!;
        const around: number[] = [];
        for (let offset = 1; offset <= half; offset++)
          around.push(ring[(p + offset) % size]!, ring[(p - offset + size) % size]!);
        list = around.sort((a, b) => a - b);
        lists.set(index, list);
      }
      return list;
    },
    areNeighbours(a, b) {
      assertIndex(a, size);
      assertIndex(b, size);
      const distance = Math.abs(position[a]! - position[b]!);
      return a !== b && Math.min(distance, size - distance) <= half;
    },
  };
}

/** Successive little-endian 32-bit words of `random`'s stream, read 4 KiB at a time. */
function wordReader(random: RandomSource): () => number {
  let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  let offset = 0;
  return () => {
    if (offset + 4 > view.byteLength) {
      const block = random(4096);
      view = new DataView(block.buffer, block.byteOffset, block.byteLength);
      offset = 0;
    }
    const value = view.getUint32(offset, true);
    offset += 4;
    return value;
  };
}

function assertIndex(index: number, size: number): void {
  assertInteger(index, 'participant index', 1, size);
}
