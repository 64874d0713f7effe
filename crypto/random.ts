import { createCipheriv, randomBytes } from 'node:crypto';
import { assertBytes, assertInteger } from './validate.ts';

/**
 * The only way the crypto core obtains randomness: injected, so protocol runs are reproducible
 * in tests and benchmarks and the core itself never touches the environment.
 */
export type RandomSource = (length: number) => Uint8Array;

/** The operating system CSPRNG. Use this in production. */
export const systemRandom: RandomSource = (length) => new Uint8Array(randomBytes(length));

/**
 * A deterministic stream (ChaCha20 keyed by a 32-byte seed). For tests and benchmarks only:
 * anybody who knows the seed knows every "random" value.
 */
export function seededRandom(seed: Uint8Array | number): RandomSource {
  let key: Uint8Array;
  if (typeof seed === 'number') {
    assertInteger(seed, 'seed', 0);
    key = new Uint8Array(32);
    new DataView(key.buffer).setFloat64(0, seed);
  } else {
    assertBytes(seed, 'seed', 32);
    key = seed;
  }
  const cipher = createCipheriv('chacha20', key, new Uint8Array(16));
  return (length) => {
    assertInteger(length, 'length', 0);
    return new Uint8Array(cipher.update(new Uint8Array(length)));
  };
}

/** Uniform integer in [0, bound) by rejection sampling (no modulo bias). */
export function randomBelow(random: RandomSource, bound: number): number {
  assertInteger(bound, 'bound', 1, 2 ** 32);
  if (bound === 1) return 0;
  const limit = Math.floor(2 ** 32 / bound) * bound;
  for (;;) {
    const bytes = random(4);
    const value = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
    if (value < limit) return value % bound;
  }
}
