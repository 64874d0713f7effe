import { readFileSync } from 'node:fs';
import { extname } from 'node:path';

/**
 * Reads a model update from disk into one flat vector:
 * - `.f32`: raw little-endian float32;
 * - `.u32`: raw little-endian uint32 levels, already quantized with the round's parameters;
 * - `.npy`: NumPy array of float32 or float64, C order (any shape; flattened);
 * - `.safetensors`: every tensor (F32, F64 or F16), flattened and concatenated in name order.
 * Pickle-based formats are refused: loading them executes code.
 */
export type UpdateVector =
  { kind: 'float'; values: Float32Array } | { kind: 'quantized'; values: Uint32Array };

export class UpdateFileError extends Error {
  override name = 'UpdateFileError';
}

export function readUpdateFile(path: string): UpdateVector {
  const extension = extname(path).toLowerCase();
  if (['.pt', '.pth', '.pkl', '.pickle', '.bin', '.ckpt'].includes(extension)) {
    throw new UpdateFileError(
      `${path}: pickle-based checkpoints can run arbitrary code when loaded; export the update as .safetensors ` +
        '(safetensors.torch.save_file) or .npy instead',
    );
  }
  const bytes = readFileSync(path);
  switch (extension) {
    case '.f32':
      return { kind: 'float', values: littleEndianFloat32(bytes, path) };
    case '.u32':
      return { kind: 'quantized', values: littleEndianUint32(bytes, path) };
    case '.npy':
      return { kind: 'float', values: parseNpy(bytes, path) };
    case '.safetensors':
      return { kind: 'float', values: parseSafetensors(bytes, path) };
    default:
      throw new UpdateFileError(
        `${path}: unknown update format "${extension}"; use .npy, .safetensors, .f32 or .u32`,
      );
  }
}

function littleEndianFloat32(bytes: Buffer, path: string): Float32Array {
  if (bytes.length % 4 !== 0)
    throw new UpdateFileError(
      `${path}: ${bytes.length} bytes is not a whole number of float32 values`,
    );
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(4 * i);
  return out;
}

function littleEndianUint32(bytes: Buffer, path: string): Uint32Array {
  if (bytes.length % 4 !== 0)
    throw new UpdateFileError(
      `${path}: ${bytes.length} bytes is not a whole number of uint32 values`,
    );
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readUInt32LE(4 * i);
  return out;
}

/**
 * A `.u32` update holds levels in {0, …, L}, L = 2^levelBits − 1 of the round it is submitted
 * to: a larger value would not be a quantized update at all, and summed with the others it would
 * wrap the aggregate modulo 2^modulusBits (one member silently corrupting everyone's sum).
 */
export function assertQuantizedLevels(
  values: Uint32Array,
  quantization: { readonly levelBits: number },
  what = 'the quantized update',
): void {
  const top = 2 ** quantization.levelBits - 1;
  for (let i = 0; i < values.length; i++) {
    if (values[i]! > top)
      throw new UpdateFileError(
        `${what}: value ${values[i]} at index ${i} exceeds the round's top level L = ${top} (levelBits ${quantization.levelBits}); quantize it with the round's parameters`,
      );
  }
}

/** NPY format 1.0/2.0/3.0: magic, version, header length, Python-literal dict, raw data. */
export function parseNpy(bytes: Buffer, path = 'array.npy'): Float32Array {
  if (bytes.length < 10 || bytes.toString('latin1', 0, 6) !== '\x93NUMPY') {
    throw new UpdateFileError(`${path}: not a .npy file (missing \\x93NUMPY magic)`);
  }
  const major = bytes[6]!;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = bytes.toString('latin1', headerStart, headerStart + headerLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shape === undefined) {
    throw new UpdateFileError(`${path}: unreadable .npy header ${header.trim()}`);
  }
  if (fortran === 'True')
    throw new UpdateFileError(
      `${path}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray`,
    );
  const count = shape
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .reduce((product, part) => product * Number(part), 1);
  const data = bytes.subarray(headerStart + headerLength);
  if (descr === '<f4') return decode(data, count, 4, (offset) => data.readFloatLE(offset), path);
  if (descr === '<f8') return decode(data, count, 8, (offset) => data.readDoubleLE(offset), path);
  throw new UpdateFileError(
    `${path}: dtype ${descr} is not supported; use float32 ('<f4') or float64 ('<f8')`,
  );
}

/** safetensors: u64 LE header length, JSON {name: {dtype, shape, data_offsets}}, raw bytes. */
export function parseSafetensors(bytes: Buffer, path = 'update.safetensors'): Float32Array {
  if (bytes.length < 8) throw new UpdateFileError(`${path}: too short for a safetensors header`);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (headerLength > bytes.length - 8 || headerLength > 100 * 1024 * 1024) {
    throw new UpdateFileError(`${path}: header length ${headerLength} exceeds the file`);
  }
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString('utf8', 8, 8 + headerLength));
  } catch {
    throw new UpdateFileError(`${path}: the safetensors header is not valid JSON`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new UpdateFileError(`${path}: the safetensors header is not a JSON object`);
  const data = bytes.subarray(8 + headerLength);
  const tensors = Object.entries(header as Record<string, unknown>)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, entry]) => safetensorsEntry(entry, `${path}: tensor ${name}`, data.length, name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (tensors.length === 0) throw new UpdateFileError(`${path}: no tensors in the file`);
  // Each byte belongs to one tensor at most: overlapping tensors would count values twice.
  const byStart = [...tensors].sort((a, b) => a.start - b.start);
  for (let i = 1; i < byStart.length; i++) {
    const previous = byStart[i - 1]!;
    const current = byStart[i]!;
    if (current.start < previous.end) {
      throw new UpdateFileError(
        `${path}: tensors ${previous.name} and ${current.name} overlap (bytes ${current.start}-${Math.min(previous.end, current.end)})`,
      );
    }
  }
  const parts: Float32Array[] = [];
  for (const { name, dtype, count, start, end } of tensors) {
    const slice = data.subarray(start, end);
    if (dtype === 'F32')
      parts.push(decode(slice, count, 4, (o) => slice.readFloatLE(o), `${path}:${name}`));
    else if (dtype === 'F64')
      parts.push(decode(slice, count, 8, (o) => slice.readDoubleLE(o), `${path}:${name}`));
    else if (dtype === 'F16')
      parts.push(decode(slice, count, 2, (o) => float16(slice.readUInt16LE(o)), `${path}:${name}`));
    else
      throw new UpdateFileError(`${path}: tensor ${name} has dtype ${dtype}; use F32, F64 or F16`);
  }
  const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** One header entry, checked: {dtype: string, shape: [n, …], data_offsets: [start, end]}. */
function safetensorsEntry(
  entry: unknown,
  what: string,
  dataBytes: number,
  name: string,
): { name: string; dtype: string; count: number; start: number; end: number } {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new UpdateFileError(
      `${what}: the header entry must be an object {dtype, shape, data_offsets}`,
    );
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  const isCount = (value: unknown): value is number =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  if (typeof dtype !== 'string') throw new UpdateFileError(`${what}: dtype must be a string`);
  if (!Array.isArray(shape) || !shape.every(isCount))
    throw new UpdateFileError(`${what}: shape must be a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount))
    throw new UpdateFileError(`${what}: data_offsets must be two non-negative integers`);
  const [start, end] = offsets as [number, number];
  if (!(end >= start && end <= dataBytes))
    throw new UpdateFileError(`${what} has data offsets outside the file`);
  const count = shape.reduce((product, size) => product * size, 1);
  return { name, dtype, count, start, end };
}

function decode(
  data: Buffer,
  count: number,
  width: number,
  read: (offset: number) => number,
  path: string,
): Float32Array {
  if (data.length !== count * width) {
    throw new UpdateFileError(
      `${path}: expected ${count * width} bytes of data for ${count} values, found ${data.length}`,
    );
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = read(i * width);
  return out;
}

function float16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
