import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalJson } from '../../ledger/embedded/contract-replay.ts';

/**
 * Block hashes are SHA-256 of canonicalJson: its output for any value must stay byte for byte
 * what it was, or every ledger file written before stops verifying. This is the definition it
 * had before its fast path for flat arrays (JSON.stringify), kept here as the reference.
 */
function reference(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++)
      out += (i > 0 ? ',' : '') + ((reference(value[i]) as string | undefined) ?? '');
    return out + ']';
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    let out = '{';
    for (const key of Object.keys(record).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const entry = record[key];
      if (entry === undefined) continue;
      out += (out.length > 1 ? ',' : '') + JSON.stringify(key) + ':' + reference(entry);
    }
    return out + '}';
  }
  return JSON.stringify(value);
}

describe('canonicalJson', () => {
  it('prints every value as its reference definition does (flat arrays, objects, undefined, holes)', () => {
    const leaf = fc.oneof(
      fc.string(),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.constant(-0),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object'), tie('sparse')),
      array: fc.array(tie('node'), { maxLength: 5 }),
      sparse: fc.sparseArray(tie('node'), { maxLength: 5 }),
      object: fc.dictionary(fc.string(), tie('node'), { maxKeys: 4 }),
    })).node;
    fc.assert(
      fc.property(value, (generated) => {
        expect(canonicalJson(generated)).toBe(reference(generated));
      }),
      { numRuns: 2000 },
    );
  });

  it('prints a block’s writes, args and events as before', () => {
    const writes = [
      ['round/m/round-1', '{"b":1,"a":"x\\n"}'],
      ['consent/c', 'é"\u2028'],
    ];
    const args = ['m/round-1', 3, null, [1, 2, [true]], { z: 1, a: [undefined, 2] }];
    for (const value of [writes, args, [writes, args], [[], [[]]], [1, , 2]])
      expect(canonicalJson(value)).toBe(reference(value));
  });
});
