/**
 * Microsoft SEAL's uncompressed serialization of Ciphertext and Plaintext (SEAL 4.x, as node-seal
 * 7 writes it with ComprModeType.none), read into and written from plain RNS arrays. node-seal
 * exposes polynomials only through save/load; threshold CKKS needs their coefficients, so this
 * module is the bridge. Layout of every object:
 *   SEALHeader (16 bytes): magic 0xA15E (u16 LE), header size 0x10 (u8), version major/minor
 *   (u8, u8), compression mode (u8, 0 = none), reserved (u16), total size in bytes (u64 LE);
 *   then the object's members. A polynomial array is a nested DynArray object: header, element
 *   count (u64), then the u64 coefficients, polynomial by polynomial, and within a polynomial
 *   residue by residue (RNS prime j occupies coefficients [j·N, (j+1)·N)).
 */
export const SEAL_MAGIC = 0xa15e;
export const SEAL_HEADER_BYTES = 16;

export class SealFormatError extends Error {
  override name = 'SealFormatError';
}

export interface SealCiphertext {
  readonly parmsId: Uint8Array;
  readonly nttForm: boolean;
  /** Number of polynomials (2 for a fresh encryption). */
  readonly size: number;
  readonly polyModulusDegree: number;
  readonly coeffModulusSize: number;
  readonly scale: number;
  readonly correctionFactor: bigint;
  /** size × coeffModulusSize × polyModulusDegree residues. */
  readonly data: BigUint64Array;
}

export interface SealPlaintext {
  readonly parmsId: Uint8Array;
  /** coeffModulusSize × polyModulusDegree for an NTT-form CKKS plaintext. */
  readonly coeffCount: number;
  readonly scale: number;
  readonly data: BigUint64Array;
}

interface Header {
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly size: number;
}

function readHeader(view: DataView, offset: number, what: string): Header {
  if (view.byteLength - offset < SEAL_HEADER_BYTES)
    throw new SealFormatError(`${what}: truncated before its SEAL header`);
  if (view.getUint16(offset, true) !== SEAL_MAGIC)
    throw new SealFormatError(`${what}: not a SEAL object (bad magic)`);
  if (view.getUint8(offset + 2) !== SEAL_HEADER_BYTES)
    throw new SealFormatError(`${what}: unexpected SEAL header size`);
  if (view.getUint8(offset + 5) !== 0) {
    throw new SealFormatError(
      `${what}: compressed SEAL objects are not parsed; save with compression none`,
    );
  }
  const size = Number(view.getBigUint64(offset + 8, true));
  if (size > view.byteLength - offset)
    throw new SealFormatError(
      `${what}: declares ${size} bytes, only ${view.byteLength - offset} present`,
    );
  return { versionMajor: view.getUint8(offset + 3), versionMinor: view.getUint8(offset + 4), size };
}

function writeHeader(view: DataView, offset: number, header: Header): void {
  view.setUint16(offset, SEAL_MAGIC, true);
  view.setUint8(offset + 2, SEAL_HEADER_BYTES);
  view.setUint8(offset + 3, header.versionMajor);
  view.setUint8(offset + 4, header.versionMinor);
  view.setUint8(offset + 5, 0);
  view.setUint16(offset + 6, 0, true);
  view.setBigUint64(offset + 8, BigInt(header.size), true);
}

/** Nested DynArray<uint64>: header, count, values. Returns the values and the end offset. */
function readArray(
  view: DataView,
  offset: number,
  what: string,
): { data: BigUint64Array; end: number; header: Header } {
  const header = readHeader(view, offset, `${what} data`);
  const count = Number(view.getBigUint64(offset + SEAL_HEADER_BYTES, true));
  const start = offset + SEAL_HEADER_BYTES + 8;
  if (header.size !== SEAL_HEADER_BYTES + 8 + count * 8 || start + count * 8 > view.byteLength) {
    throw new SealFormatError(
      `${what}: polynomial data of ${count} coefficients does not fit its object`,
    );
  }
  const data = new BigUint64Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getBigUint64(start + 8 * i, true);
  return { data, end: start + count * 8, header };
}

function writeArray(view: DataView, offset: number, data: BigUint64Array, version: Header): number {
  writeHeader(view, offset, { ...version, size: SEAL_HEADER_BYTES + 8 + data.length * 8 });
  view.setBigUint64(offset + SEAL_HEADER_BYTES, BigInt(data.length), true);
  const start = offset + SEAL_HEADER_BYTES + 8;
  for (let i = 0; i < data.length; i++) view.setBigUint64(start + 8 * i, data[i]!, true);
  return start + data.length * 8;
}

const viewOf = (bytes: Uint8Array) =>
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function parseCiphertext(bytes: Uint8Array): SealCiphertext & { version: Header } {
  const view = viewOf(bytes);
  const version = readHeader(view, 0, 'ciphertext');
  if (version.size !== bytes.length)
    throw new SealFormatError(`ciphertext: declares ${version.size} bytes, got ${bytes.length}`);
  let offset = SEAL_HEADER_BYTES;
  const parmsId = bytes.slice(offset, offset + 32);
  offset += 32;
  const nttForm = view.getUint8(offset) !== 0;
  offset += 1;
  const size = Number(view.getBigUint64(offset, true));
  const polyModulusDegree = Number(view.getBigUint64(offset + 8, true));
  const coeffModulusSize = Number(view.getBigUint64(offset + 16, true));
  const scale = view.getFloat64(offset + 24, true);
  const correctionFactor = view.getBigUint64(offset + 32, true);
  offset += 40;
  const { data, end } = readArray(view, offset, 'ciphertext');
  if (end !== bytes.length)
    throw new SealFormatError('ciphertext: trailing bytes after the polynomial data');
  if (data.length !== size * coeffModulusSize * polyModulusDegree) {
    throw new SealFormatError(
      `ciphertext: ${data.length} coefficients, expected ${size} × ${coeffModulusSize} × ${polyModulusDegree}`,
    );
  }
  return {
    parmsId,
    nttForm,
    size,
    polyModulusDegree,
    coeffModulusSize,
    scale,
    correctionFactor,
    data,
    version,
  };
}

export function serializeCiphertext(ct: SealCiphertext, version: Header): Uint8Array {
  const total = SEAL_HEADER_BYTES + 32 + 1 + 40 + SEAL_HEADER_BYTES + 8 + ct.data.length * 8;
  const bytes = new Uint8Array(total);
  const view = viewOf(bytes);
  writeHeader(view, 0, { ...version, size: total });
  let offset = SEAL_HEADER_BYTES;
  bytes.set(ct.parmsId, offset);
  offset += 32;
  view.setUint8(offset, ct.nttForm ? 1 : 0);
  offset += 1;
  view.setBigUint64(offset, BigInt(ct.size), true);
  view.setBigUint64(offset + 8, BigInt(ct.polyModulusDegree), true);
  view.setBigUint64(offset + 16, BigInt(ct.coeffModulusSize), true);
  view.setFloat64(offset + 24, ct.scale, true);
  view.setBigUint64(offset + 32, ct.correctionFactor, true);
  writeArray(view, offset + 40, ct.data, version);
  return bytes;
}

export function parsePlaintext(bytes: Uint8Array): SealPlaintext & { version: Header } {
  const view = viewOf(bytes);
  const version = readHeader(view, 0, 'plaintext');
  if (version.size !== bytes.length)
    throw new SealFormatError(`plaintext: declares ${version.size} bytes, got ${bytes.length}`);
  const parmsId = bytes.slice(SEAL_HEADER_BYTES, SEAL_HEADER_BYTES + 32);
  const coeffCount = Number(view.getBigUint64(SEAL_HEADER_BYTES + 32, true));
  const scale = view.getFloat64(SEAL_HEADER_BYTES + 40, true);
  const { data, end } = readArray(view, SEAL_HEADER_BYTES + 48, 'plaintext');
  if (end !== bytes.length)
    throw new SealFormatError('plaintext: trailing bytes after the polynomial data');
  if (data.length !== coeffCount)
    throw new SealFormatError(`plaintext: ${data.length} coefficients, header says ${coeffCount}`);
  return { parmsId, coeffCount, scale, data, version };
}

export function serializePlaintext(pt: SealPlaintext, version: Header): Uint8Array {
  const total = SEAL_HEADER_BYTES + 48 + SEAL_HEADER_BYTES + 8 + pt.data.length * 8;
  const bytes = new Uint8Array(total);
  const view = viewOf(bytes);
  writeHeader(view, 0, { ...version, size: total });
  bytes.set(pt.parmsId, SEAL_HEADER_BYTES);
  view.setBigUint64(SEAL_HEADER_BYTES + 32, BigInt(pt.coeffCount), true);
  view.setFloat64(SEAL_HEADER_BYTES + 40, pt.scale, true);
  writeArray(view, SEAL_HEADER_BYTES + 48, pt.data, version);
  return bytes;
}
