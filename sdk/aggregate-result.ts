import { dequantizeSum, maxLevel, type QuantizationParams } from '../crypto/quantize.ts';

/**
 * A SecAgg round's aggregate as a data scientist needs it: the float sum and average of the
 * contributions, with how far each value may be from the exact float sum. The wire result is the
 * quantized sum modulo 2^b; this undoes the fixed-point encoding (crypto/quantize.ts).
 */
export interface FloatAggregate {
  readonly sum: Float64Array;
  readonly average: Float64Array;
  readonly contributions: number;
  /** Width of one quantization level: 2·clipRange / L. */
  readonly quantizationStep: number;
  /**
   * Bound on |sum − exact sum of the clipped inputs| per value: each contribution is rounded
   * stochastically to one of its two neighbouring levels, so it is off by less than one step.
   * Values clipped by their member are not covered (they are off by what was clipped).
   */
  readonly sumErrorBound: number;
}

export function floatAggregate(
  modularSum: Uint32Array,
  contributions: number,
  quantization: QuantizationParams,
): FloatAggregate {
  if (!Number.isSafeInteger(contributions) || contributions < 1)
    throw new RangeError(`a round result needs at least one contribution, not ${contributions}`);
  const sum = dequantizeSum(modularSum, contributions, quantization);
  const average = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) average[i] = sum[i]! / contributions;
  const quantizationStep = (2 * quantization.clipRange) / maxLevel(quantization);
  return {
    sum,
    average,
    contributions,
    quantizationStep,
    sumErrorBound: contributions * quantizationStep,
  };
}

/** Pads a header so the data that follows starts on `alignment` bytes, as both formats ask. */
function padded(header: string, prefixBytes: number, alignment: number, pad: string): string {
  const length = prefixBytes + Buffer.byteLength(header, 'latin1');
  const missing = (alignment - (length % alignment)) % alignment;
  return header + pad.repeat(missing);
}

function littleEndianFloat64(values: Float64Array): Buffer {
  const bytes = Buffer.alloc(values.length * 8);
  for (let i = 0; i < values.length; i++) bytes.writeDoubleLE(values[i]!, 8 * i);
  return bytes;
}

/** NPY 1.0 of a float64 vector (what `numpy.load` reads): magic, header dict, raw data. */
export function encodeNpy(values: Float64Array): Buffer {
  const dict = `{'descr': '<f8', 'fortran_order': False, 'shape': (${values.length},), }`;
  // 10 bytes of magic, version and length precede the header; it ends with a newline at a
  // multiple of 64 bytes.
  const header = padded(dict, 10 + 1, 64, ' ') + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(Buffer.byteLength(header, 'latin1'), 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), littleEndianFloat64(values)]);
}

/** safetensors of named float64 vectors, tensors laid out in name order. */
export function encodeSafetensors(tensors: Readonly<Record<string, Float64Array>>): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> = {};
  let offset = 0;
  for (const name of names) {
    const length = tensors[name]!.length;
    header[name] = { dtype: 'F64', shape: [length], data_offsets: [offset, offset + 8 * length] };
    offset += 8 * length;
  }
  const json = padded(JSON.stringify(header), 8, 8, ' ');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json, 'utf8')));
  return Buffer.concat([
    prefix,
    Buffer.from(json, 'utf8'),
    ...names.map((name) => littleEndianFloat64(tensors[name]!)),
  ]);
}
