import { describe, expect, it } from '@jest/globals';
import { parseSafetensors, UpdateFileError } from '../../sdk/update-file.ts';

/** A safetensors file with `header` as its JSON header and `data` after it. */
function file(header: unknown, data: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

const floats = (...values: number[]) => Buffer.from(new Float32Array(values).buffer);

describe('fault: a malformed safetensors update', () => {
  it('an entry that is not an object is refused with UpdateFileError naming the tensor', () => {
    for (const entry of [5, null, 'w', [0, 4]]) {
      const parse = () => parseSafetensors(file({ w: entry }, floats(1)), 'u.safetensors');
      expect(parse).toThrow(UpdateFileError);
      expect(parse).toThrow(/u.safetensors: tensor w: the header entry must be an object/);
    }
    expect(() =>
      parseSafetensors(file({ w: { dtype: 'F32', shape: 'x', data_offsets: [0, 4] } }, floats(1))),
    ).toThrow(/tensor w: shape must be a list of non-negative integers/);
    expect(() =>
      parseSafetensors(file({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, floats(1))),
    ).toThrow(/tensor w: data_offsets must be two non-negative integers/);
    expect(() => parseSafetensors(file([1, 2], floats(1)))).toThrow(/not a JSON object/);
  });

  it('overlapping tensors are refused: no byte counts twice', () => {
    const header = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    };
    expect(() => parseSafetensors(file(header, floats(1, 2, 3)))).toThrow(
      /tensors a and b overlap \(bytes 4-8\)/,
    );
    const adjacent = {
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    };
    expect(Array.from(parseSafetensors(file(adjacent, floats(1, 2, 3))))).toEqual([1, 2, 3]);
  });
});
