import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertQuantizedLevels,
  parseNpy,
  parseSafetensors,
  readUpdateFile,
  UpdateFileError,
} from '../../sdk/update-file.ts';

const directory = mkdtempSync(join(tmpdir(), 'veilsum-files-'));

function npy(descr: string, shape: string, data: Buffer): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header = header.padEnd(header.length + ((64 - (total % 64)) % 64), ' ') + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), data]);
}

function safetensors(
  tensors: Record<string, { dtype: string; shape: number[]; data: Buffer }>,
): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    header[name] = {
      dtype: tensor.dtype,
      shape: tensor.shape,
      data_offsets: [offset, offset + tensor.data.length],
    };
    parts.push(tensor.data);
    offset += tensor.data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, ...parts]);
}

describe('update files', () => {
  it('reads float32 and float64 .npy arrays of any shape, flattened', () => {
    const f32 = Buffer.from(new Float32Array([1.5, -2, 3.25, 0]).buffer);
    expect(Array.from(parseNpy(npy('<f4', '(2, 2)', f32)))).toEqual([1.5, -2, 3.25, 0]);
    const f64 = Buffer.from(new Float64Array([0.5, 7]).buffer);
    expect(Array.from(parseNpy(npy('<f8', '(2,)', f64)))).toEqual([0.5, 7]);
  });

  it('refuses .npy integer dtypes, Fortran order and short data with a precise message', () => {
    expect(() => parseNpy(npy('<i4', '(1,)', Buffer.alloc(4)))).toThrow(
      /dtype <i4 is not supported/,
    );
    const fortran = npy('<f4', '(1,)', Buffer.alloc(4))
      .toString('latin1')
      .replace('False', 'True ');
    expect(() => parseNpy(Buffer.from(fortran, 'latin1'))).toThrow(/Fortran-ordered/);
    expect(() => parseNpy(npy('<f4', '(3,)', Buffer.alloc(8)))).toThrow(/expected 12 bytes/);
    expect(() => parseNpy(Buffer.from('not numpy'))).toThrow(/missing \\x93NUMPY magic/);
  });

  it('reads every safetensors tensor (F32, F64, F16) in name order', () => {
    const bytes = safetensors({
      'layer.b': { dtype: 'F64', shape: [1], data: Buffer.from(new Float64Array([4]).buffer) },
      'layer.a': { dtype: 'F32', shape: [2], data: Buffer.from(new Float32Array([1, 2]).buffer) },
      'layer.c': {
        dtype: 'F16',
        shape: [2],
        data: Buffer.from(new Uint16Array([0x3c00, 0xc000]).buffer),
      },
    });
    expect(Array.from(parseSafetensors(bytes))).toEqual([1, 2, 4, 1, -2]);
  });

  it('refuses broken safetensors headers and unsupported dtypes', () => {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(1000n);
    expect(() => parseSafetensors(Buffer.concat([length, Buffer.from('{}')]))).toThrow(
      /exceeds the file/,
    );
    expect(() =>
      parseSafetensors(safetensors({ w: { dtype: 'I64', shape: [1], data: Buffer.alloc(8) } })),
    ).toThrow(/dtype I64; use F32, F64 or F16/);
    expect(() =>
      parseSafetensors(safetensors({ w: { dtype: 'F32', shape: [3], data: Buffer.alloc(8) } })),
    ).toThrow(/expected 12 bytes/);
  });

  it('reads raw .f32 and .u32 files and refuses pickles', () => {
    const f32 = join(directory, 'update.f32');
    writeFileSync(f32, Buffer.from(new Float32Array([0.25, -1]).buffer));
    expect(readUpdateFile(f32)).toEqual({ kind: 'float', values: new Float32Array([0.25, -1]) });
    const u32 = join(directory, 'update.u32');
    writeFileSync(u32, Buffer.from(new Uint32Array([7, 65535]).buffer));
    expect(readUpdateFile(u32)).toEqual({ kind: 'quantized', values: new Uint32Array([7, 65535]) });
    const pickle = join(directory, 'model.pt');
    writeFileSync(pickle, 'x');
    expect(() => readUpdateFile(pickle)).toThrow(UpdateFileError);
    expect(() => readUpdateFile(pickle)).toThrow(/export the update as \.safetensors/);
  });

  it('takes .u32 levels up to L = 2^levelBits − 1 and refuses L + 1, naming value, index and L', () => {
    expect(() => assertQuantizedLevels(Uint32Array.of(0, 65_535), { levelBits: 16 })).not.toThrow();
    expect(() => assertQuantizedLevels(Uint32Array.of(0, 7, 65_536), { levelBits: 16 })).toThrow(
      /value 65536 at index 2 exceeds the round's top level L = 65535 \(levelBits 16\)/,
    );
    expect(() =>
      assertQuantizedLevels(Uint32Array.of(2 ** 32 - 1), { levelBits: 32 }),
    ).not.toThrow();
  });
});
