import { BitReader, BitWriter } from './bit-stream.ts';
import { SEAL_HEADER_BYTES, SEAL_MAGIC } from './seal-serialization.ts';

/**
 * The wire form of a CKKS ciphertext: SEAL's uncompressed serialization with every residue packed
 * to its prime's bit width (52 of 64 bits for the default set). zstd — what SEAL offers — saves
 * nothing here: residues are uniform modulo q, and a compressor cannot see that only their top
 * bits are always zero (measured with one 60-bit prime: 131 185 → 131 200 bytes for an N = 8192
 * ciphertext). Packing does: 52 instead of 64 bytes per parameter with two 52-bit primes.
 *
 * Decoding is where a received ciphertext is checked, before SEAL or the running sum sees it:
 * magic and version, parameter id, size 2, NTT form, zero pad, SEAL version, degree, number of
 * primes, scale, exact byte length, and every residue reduced modulo its prime. Layout (little-endian):
 *   "VSC1" | parms_id (32) | scale f64 | degree u32 | primes u8 | size u8 | ntt u8 | pad u8 |
 *   SEAL version major u8, minor u8 | the low 32 bits of every residue (u32) | the high
 *   (width − 32) bits of every residue, bit-packed; residues polynomial by polynomial, prime by prime.
 *
 * A keyholder's partial decryption d_i (engine.partialDecrypt) is one polynomial: the same layout
 * with size 1 (`packPartialDecryption`, `partialDecryptionResidues`), half a ciphertext's bytes. Each
 * reader checks the size it expects, so a partial never passes as a ciphertext or back.
 */
export interface CiphertextExpectations {
  readonly parmsId: Uint8Array;
  /** How an upload's c0 may travel rounded (`compactC0Shape`); absent: full ciphertexts only. */
  readonly compactC0?: CompactC0;
  readonly polyModulusDegree: number;
  readonly moduli: readonly bigint[];
  readonly scale: number;
  /** SEAL's serialization version, which the wire header carries (SEAL refuses others). */
  readonly sealVersion: { readonly major: number; readonly minor: number };
}

export class InvalidCiphertextError extends Error {
  override name = 'InvalidCiphertextError';
}

const MAGIC = [0x56, 0x53, 0x43, 0x31]; // "VSC1"
const COMPACT_MAGIC = [0x56, 0x53, 0x43, 0x32]; // "VSC2": a member's upload, c0 rounded

/**
 * A member's upload with c0 rounded ("VSC2"). c0 is free — the encryption proof is about c1, and
 * decryption reads c0 + c1·s — so a member may send any c0′ close to its c0 as an integer mod
 * Q: the difference only adds to the decrypted sum, and it is a function of c0 (public), so it
 * tells nobody anything about s, and the flooding analysis (parameters.ts) is unchanged. With two
 * data primes q0, q1 the member sends, per coefficient, w′ = round(w / 2^shift) for
 * w = round(c0 / q1) mod q0 (c0 its coefficient-form integer in [0, Q)); the receiver takes
 * c0′ = q1·2^shift·w′ mod Q, whose residue mod q1 is 0 and mod q0 is (q1·2^shift mod q0)·w′.
 * |c0 − c0′| ≤ q1/2 + q1·2^(shift−1) as integers mod Q, so a decoded value moves by at most
 * q1·(2^shift + 1)/(2Δ) (read at 2Δ from 2·c0): `shift` is the largest keeping that within
 * C0_ROUNDING_ERROR. For sum-8192 (q ≈ 2^52, Δ = 2^92) shift = 17: c0 travels in 35 bits
 * instead of 104, a ciphertext in 139 bits a value instead of 208 (17.4 instead of 26 bytes a
 * parameter), at ≤ 2^-23 = 1.2·10⁻⁷ of error per member and value (10 members: ≤ 1.2·10⁻⁶,
 * beside the round's 5·10⁻⁵ precision target, which the flooding spends; maxAbsError ≤ 1e-4).
 * Why not c1 too: the proof is about c1 and extraction's bound on e* would take the rounding
 * (2^68 here), which the flooding would then have to hide — c1 travels whole.
 * Layout: the VSC1 header with magic "VSC2" and size 2 | c1 as a one-polynomial VSC1 body (low
 * words, then packed high parts, prime by prime) | w′ for the N coefficients, `bits` each,
 * little-endian bit-packed. Every w′ must be ≤ `max` (checked with the residues).
 */
export interface CompactC0 {
  readonly shift: number;
  /** Bits per w′ and the largest w′ (round((q0 − 1)/2^shift)). */
  readonly bits: number;
  readonly max: number;
  /** (q1·2^shift) mod q0: what the receiver multiplies Σ w′ by. */
  readonly multiplier: bigint;
}

/** The largest change of a decoded value one member's rounded c0 may cause. */
export const C0_ROUNDING_ERROR = 2 ** -23;

/** The rounding of c0 for two data primes (module comment above), or undefined (other shapes). */
export function compactC0Shape(moduli: readonly bigint[], scale: number): CompactC0 | undefined {
  if (moduli.length !== 2) return undefined;
  const [q0, q1] = moduli.map(Number) as [number, number];
  // q1·(2^shift + 1)/(2Δ) ≤ C0_ROUNDING_ERROR.
  const room = (2 * scale * C0_ROUNDING_ERROR) / q1 - 1;
  if (!(room >= 1)) return undefined;
  const shift = Math.floor(Math.log2(room));
  const max = Math.round((q0 - 1) / 2 ** shift);
  const bits = Math.ceil(Math.log2(max + 1));
  // w′ of 25 to 48 bits (bit-stream.ts writes up to 53): which parameter sets travel compact
  // is part of the wire format, so the range stays what it was.
  if (bits < 25 || bits > 48) return undefined;
  return {
    shift,
    bits,
    max,
    multiplier: (moduli[1]! * 2n ** BigInt(shift)) % moduli[0]!,
  };
}

/**
 * An upload stored as its ciphertexts one after the other (full or compact, each by its magic)
 * cut back into `count` views; RangeError when the bytes are not exactly that.
 */
export function splitCiphertexts(
  bytes: Uint8Array,
  expected: CiphertextExpectations,
  count: number,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = 0;
  for (let k = 0; k < count; k++) {
    const size = isCompactWire(bytes.subarray(offset))
      ? compactWireLength(expected)
      : wireLength(expected);
    if (offset + size > bytes.length) break;
    out.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  if (out.length !== count || offset !== bytes.length)
    throw new RangeError(`the upload is not ${count} ciphertexts`);
  return out;
}

/** Bytes of a compact upload ciphertext. */
export function compactWireLength(expected: CiphertextExpectations): number {
  const compact = expected.compactC0;
  if (!compact) throw new RangeError('these parameters have no compact ciphertexts');
  return wireLength(expected, 1) + Math.ceil((expected.polyModulusDegree * compact.bits) / 8);
}

/** Whether wire bytes are a compact upload ciphertext (by their magic; checks nothing else). */
export const isCompactWire = (wire: Uint8Array): boolean =>
  wire.length >= 4 && COMPACT_MAGIC.every((byte, i) => wire[i] === byte);

/**
 * A compact upload ciphertext from c1's reduced residues (NTT form, (low, high) word pairs,
 * prime by prime) and c0's rounded coefficients w′ (each an integer in [0, max]).
 */
export function packCompactCiphertext(
  c1Words: Uint32Array,
  rounded: Float64Array,
  expected: CiphertextExpectations,
): Uint8Array {
  const compact = expected.compactC0;
  const degree = expected.polyModulusDegree;
  if (
    !compact ||
    rounded.length !== degree ||
    c1Words.length !== 2 * degree * expected.moduli.length
  )
    throw new RangeError('packCompactCiphertext: c1 and N rounded c0 coefficients');
  const body = packWords(expected, 1, 1, c1Words);
  const out = new Uint8Array(compactWireLength(expected));
  out.set(body, 0);
  out.set(COMPACT_MAGIC, 0);
  out[49] = 2;
  const writer = new BitWriter(out, body.length);
  for (let c = 0; c < degree; c++) writer.write(rounded[c]!, compact.bits);
  writer.flush();
  return out;
}

/**
 * Checks every w′ of a header-checked compact wire ≤ max and its padding bits zero, keeping
 * nothing (the upload path checks each ciphertext once, when it arrives).
 */
function checkRoundedC0(wire: Uint8Array, expected: CiphertextExpectations): void {
  const compact = expected.compactC0!;
  // The header check fixed the length: N·bits bits from here to the end, then zero padding.
  const reader = new BitReader(wire, wireLength(expected, 1));
  for (let c = 0; c < expected.polyModulusDegree; c++) {
    const value = reader.read(compact.bits);
    if (value > compact.max)
      throw new InvalidCiphertextError(
        `rounded c0 coefficient ${c} is ${value}, above ${compact.max}`,
      );
  }
  try {
    reader.end();
  } catch {
    throw new InvalidCiphertextError('compact ciphertext: nonzero padding after the rounded c0');
  }
}

/** roundedSum ← roundedSum + w′ mod q0, for a compact wire that passed `checkRoundedC0`. */
function addRoundedC0(
  wire: Uint8Array,
  expected: CiphertextExpectations,
  roundedSum: Float64Array,
): void {
  const { bits } = expected.compactC0!;
  const q0 = Number(expected.moduli[0]!);
  const reader = new BitReader(wire, wireLength(expected, 1));
  for (let c = 0; c < roundedSum.length; c++) {
    const value = roundedSum[c]! + reader.read(bits);
    roundedSum[c] = value >= q0 ? value - q0 : value;
  }
}

/** One (polynomial, prime) block's high parts: reused, so a check or a sum allocates nothing. */
let highsScratch = new Uint32Array(0);
function highsFor(degree: number): Uint32Array {
  if (highsScratch.length !== degree) highsScratch = new Uint32Array(degree);
  return highsScratch;
}

const WIRE_HEADER_BYTES = 4 + 32 + 8 + 4 + 4 + 2;
// SEAL Ciphertext: header, parms_id, ntt flag, size, degree, primes, scale, correction factor.
const SEAL_CT_FIXED = SEAL_HEADER_BYTES + 32 + 1 + 40;
const SEAL_DATA_OFFSET = SEAL_CT_FIXED + SEAL_HEADER_BYTES + 8;

function bitWidth(q: bigint): number {
  const width = q.toString(2).length;
  if (width <= 32 || width > 64) throw new RangeError(`primes of ${width} bits are not supported`);
  return width;
}

/** Polynomials on the wire: a ciphertext's two, or a partial decryption's one. */
type WireSize = 1 | 2;

export function wireLength(expected: CiphertextExpectations, size: WireSize = 2): number {
  const bits = expected.moduli.reduce((sum, q) => sum + bitWidth(q), 0);
  return WIRE_HEADER_BYTES + Math.ceil((size * expected.polyModulusDegree * bits) / 8);
}

export function sealCiphertextLength(degree: number, primes: number): number {
  return SEAL_DATA_OFFSET + 2 * degree * primes * 8;
}

/** SEAL uncompressed ciphertext bytes (size 2) → wire bytes. */
export function packCiphertext(seal: Uint8Array, moduli: readonly bigint[]): Uint8Array {
  return packPolynomials(seal, moduli, [0, 1]);
}

/**
 * A partial decryption's wire bytes: polynomial 1 (where SEAL's product c·(2·λ_i·s_i) + flood
 * leaves d_i) of SEAL uncompressed ciphertext bytes (size 2), alone.
 */
export function packPartialDecryption(seal: Uint8Array, moduli: readonly bigint[]): Uint8Array {
  return packPolynomials(seal, moduli, [1]);
}

function packPolynomials(
  seal: Uint8Array,
  moduli: readonly bigint[],
  polys: readonly (0 | 1)[],
): Uint8Array {
  const view = new DataView(seal.buffer, seal.byteOffset, seal.byteLength);
  const degree = Number(view.getBigUint64(SEAL_HEADER_BYTES + 33 + 8, true));
  const sealSize = Number(view.getBigUint64(SEAL_HEADER_BYTES + 33, true));
  const primes = moduli.length;
  if (sealSize !== 2 || seal.length !== sealCiphertextLength(degree, primes))
    throw new RangeError('packCiphertext takes a fresh SEAL ciphertext of the round parameters');
  const size = polys.length as WireSize;
  const expected = {
    parmsId: seal.subarray(16, 48),
    polyModulusDegree: degree,
    moduli,
    scale: view.getFloat64(SEAL_HEADER_BYTES + 33 + 24, true),
    sealVersion: { major: seal[3]!, minor: seal[4]! },
  };
  const residues = size * primes * degree;
  // SEAL's residues of the polynomials kept as aligned u32 pairs (low, high): one copy, then
  // plain indexed access. new Uint8Array(view) copies into fresh, aligned memory (Buffer#slice
  // would not copy: gRPC hands over Buffers inside shared pools, at any offset).
  const from = SEAL_DATA_OFFSET + polys[0]! * primes * degree * 8;
  const words = new Uint32Array(new Uint8Array(seal.subarray(from, from + residues * 8)).buffer);
  return packWords(expected, size, seal[SEAL_HEADER_BYTES + 32]!, words);
}

/**
 * A partial decryption d (NTT form, scale as `expected`) on the wire, from its reduced residues
 * as (low, high) 32-bit word pairs, prime by prime: what the WebAssembly kernel computes.
 */
export function packPartialDecryptionWords(
  words: Uint32Array,
  expected: CiphertextExpectations,
): Uint8Array {
  if (words.length !== 2 * expected.polyModulusDegree * expected.moduli.length)
    throw new RangeError('packPartialDecryptionWords: one polynomial of the round parameters');
  return packWords(expected, 1, 1, words);
}

/**
 * A ciphertext (c0, c1) (NTT form, scale as `expected`) on the wire, from its reduced residues as
 * (low, high) 32-bit word pairs, c0's then c1's, prime by prime.
 */
export function packCiphertextWords(
  words: Uint32Array,
  expected: CiphertextExpectations,
): Uint8Array {
  if (words.length !== 4 * expected.polyModulusDegree * expected.moduli.length)
    throw new RangeError('packCiphertextWords: two polynomials of the round parameters');
  return packWords(expected, 2, 1, words);
}

function packWords(
  expected: CiphertextExpectations,
  size: WireSize,
  nttForm: number,
  words: Uint32Array,
): Uint8Array {
  const degree = expected.polyModulusDegree;
  const { moduli } = expected;
  const primes = moduli.length;
  const out = new Uint8Array(wireLength(expected, size));
  const outView = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out.set(expected.parmsId, 4);
  outView.setFloat64(36, expected.scale, true);
  outView.setUint32(44, degree, true);
  out[48] = primes;
  out[49] = size;
  out[50] = nttForm;
  out[51] = 0;
  out[52] = expected.sealVersion.major;
  out[53] = expected.sealVersion.minor;
  const residues = size * primes * degree;
  const lows = new Uint32Array(residues);
  for (let r = 0; r < residues; r++) lows[r] = words[2 * r]!;
  out.set(new Uint8Array(lows.buffer), WIRE_HEADER_BYTES);
  // Every block (one prime of one polynomial) packs N·width bits, a whole number of bytes since N
  // is a power of two ≥ 8: blocks start byte-aligned and are packed independently.
  let highOffset = WIRE_HEADER_BYTES + 4 * residues;
  for (let p = 0; p < size; p++) {
    for (let j = 0; j < primes; j++) {
      const highBits = bitWidth(moduli[j]!) - 32;
      const block = (p * primes + j) * degree;
      if (highBits === 28) {
        // The default 60-bit primes: two 28-bit high parts fill exactly 7 bytes.
        for (let c = 0, o = highOffset; c < degree; c += 2, o += 7) {
          const a = words[2 * (block + c) + 1]!;
          const b = words[2 * (block + c + 1) + 1]!;
          out[o] = a & 0xff;
          out[o + 1] = (a >>> 8) & 0xff;
          out[o + 2] = (a >>> 16) & 0xff;
          out[o + 3] = ((a >>> 24) & 0x0f) | ((b & 0x0f) << 4);
          out[o + 4] = (b >>> 4) & 0xff;
          out[o + 5] = (b >>> 12) & 0xff;
          out[o + 6] = (b >>> 20) & 0xff;
        }
      } else if (highBits === 20) {
        // 52-bit primes: two 20-bit high parts fill exactly 5 bytes.
        for (let c = 0, o = highOffset; c < degree; c += 2, o += 5) {
          const a = words[2 * (block + c) + 1]!;
          const b = words[2 * (block + c + 1) + 1]!;
          out[o] = a & 0xff;
          out[o + 1] = (a >>> 8) & 0xff;
          out[o + 2] = ((a >>> 16) & 0x0f) | ((b & 0x0f) << 4);
          out[o + 3] = (b >>> 4) & 0xff;
          out[o + 4] = (b >>> 12) & 0xff;
        }
      } else {
        const writer = new BitWriter(out, highOffset);
        for (let c = 0; c < degree; c++) writer.write(words[2 * (block + c) + 1]!, highBits);
        writer.flush();
      }
      highOffset += (degree * highBits) / 8;
    }
  }
  return out;
}

/** Wire bytes → SEAL uncompressed ciphertext bytes, after every check in the module comment. */
export function unpackCiphertext(wire: Uint8Array, expected: CiphertextExpectations): Uint8Array {
  const { degree, primes, scale } = checkWireHeader(wire, expected);
  const total = sealCiphertextLength(degree, primes);
  // Shifted so that the 32-bit words of the data (SEAL_DATA_OFFSET bytes in) are aligned.
  const shift = (4 - (SEAL_DATA_OFFSET % 4)) % 4;
  const buffer = new ArrayBuffer(total + shift);
  const out = new Uint8Array(buffer, shift, total);
  const outView = new DataView(buffer, shift, total);
  writeSealHeader(outView, 0, total, wire[52]!, wire[53]!);
  out.set(expected.parmsId, SEAL_HEADER_BYTES);
  out[SEAL_HEADER_BYTES + 32] = 1;
  const meta = SEAL_HEADER_BYTES + 33;
  outView.setBigUint64(meta, 2n, true);
  outView.setBigUint64(meta + 8, BigInt(degree), true);
  outView.setBigUint64(meta + 16, BigInt(primes), true);
  outView.setFloat64(meta + 24, scale, true);
  outView.setBigUint64(meta + 32, 1n, true);
  const residues = 2 * degree * primes;
  writeSealHeader(
    outView,
    SEAL_CT_FIXED,
    SEAL_HEADER_BYTES + 8 + residues * 8,
    wire[52]!,
    wire[53]!,
  );
  outView.setBigUint64(SEAL_CT_FIXED + SEAL_HEADER_BYTES, BigInt(residues), true);
  const words = new Uint32Array(buffer, shift + SEAL_DATA_OFFSET, 2 * residues);
  for (let p = 0; p < 2; p++) readPolynomial(wire, expected, p, words, 0);
  return out;
}

/**
 * Residues of a wire ciphertext as Numbers (prime by prime, NTT form), after the header checks
 * and the reduction check of what is read: polynomial `poly` alone (what a verifier of the
 * encryption proof reads of c1), or both (c0 then c1) for a running sum, without SEAL.
 */
export function wireResidues(
  wire: Uint8Array,
  expected: CiphertextExpectations,
  poly?: 0 | 1,
): Float64Array {
  if (isCompactWire(wire) && poly === 1) {
    // c1 alone (what the proof is about), as a one-polynomial body; the rounded c0 is not
    // decoded here: `checkCiphertext` checked it when the upload arrived.
    const { degree, primes } = checkWireHeader(wire, expected, 2, true);
    const c1 = new Uint32Array(2 * degree * primes);
    readPolynomial(wire, expected, 0, c1, 0, 1);
    const out = new Float64Array(degree * primes);
    for (let i = 0; i < out.length; i++) out[i] = c1[2 * i + 1]! * 2 ** 32 + c1[2 * i]!;
    return out;
  }
  const { degree, primes } = checkWireHeader(wire, expected);
  const perPoly = degree * primes;
  const polys = poly === undefined ? [0, 1] : [poly];
  const words = new Uint32Array(2 * polys.length * perPoly);
  for (const p of polys)
    readPolynomial(wire, expected, p, words, poly === undefined ? 0 : -p * perPoly);
  const out = new Float64Array(polys.length * perPoly);
  for (let i = 0; i < out.length; i++) out[i] = words[2 * i + 1]! * 2 ** 32 + words[2 * i]!;
  return out;
}

/**
 * Polynomial `poly` of a wire ciphertext, after the header checks and its reduction check, as
 * little-endian (low, high) 32-bit word pairs — 64-bit integers — into `words` (2·primes·N).
 */
export function wireResidueWords(
  wire: Uint8Array,
  expected: CiphertextExpectations,
  poly: 0 | 1,
  words: Uint32Array,
): void {
  const { degree, primes } = checkWireHeader(wire, expected);
  if (words.length !== 2 * degree * primes)
    throw new RangeError(`wireResidueWords: ${2 * degree * primes} words, not ${words.length}`);
  readPolynomial(wire, expected, poly, words, -poly * degree * primes);
}

/**
 * A partial decryption's polynomial d_i as residues (Numbers, prime by prime, NTT form), after
 * the header checks (size 1) and the reduction check of every residue.
 */
/**
 * A partial decryption's polynomial d_i as (low, high) 32-bit word pairs into `words`
 * (2·primes·N), after the header checks (size 1) and the reduction check of every residue.
 */
export function partialDecryptionWords(
  wire: Uint8Array,
  expected: CiphertextExpectations,
  words: Uint32Array,
): void {
  const { degree, primes } = checkWireHeader(wire, expected, 1);
  if (words.length !== 2 * degree * primes)
    throw new RangeError(
      `partialDecryptionWords: ${2 * degree * primes} words, not ${words.length}`,
    );
  readPolynomial(wire, expected, 0, words, 0, 1);
}

export function partialDecryptionResidues(
  wire: Uint8Array,
  expected: CiphertextExpectations,
): Float64Array {
  const { degree, primes } = checkWireHeader(wire, expected, 1);
  const words = new Uint32Array(2 * degree * primes);
  readPolynomial(wire, expected, 0, words, 0, 1);
  const out = new Float64Array(degree * primes);
  for (let i = 0; i < out.length; i++) out[i] = words[2 * i + 1]! * 2 ** 32 + words[2 * i]!;
  return out;
}

/**
 * Every check of the module comment, decoding nothing and allocating nothing per ciphertext: for a
 * ciphertext kept to be added later (`addCiphertextInto` then reads it without checking again).
 */
export function checkCiphertext(wire: Uint8Array, expected: CiphertextExpectations): void {
  if (isCompactWire(wire)) {
    checkWireHeader(wire, expected, 2, true);
    checkReduced(wire, expected, 1);
    checkRoundedC0(wire, expected);
    return;
  }
  checkWireHeader(wire, expected);
  checkReduced(wire, expected, 2);
}

/** That every residue of a header-checked body of `polys` polynomials is reduced. */
function checkReduced(wire: Uint8Array, expected: CiphertextExpectations, polys: WireSize): void {
  const degree = expected.polyModulusDegree;
  const primes = expected.moduli.length;
  const highs = highsFor(degree);
  let highOffset = WIRE_HEADER_BYTES + 4 * polys * degree * primes;
  for (let p = 0; p < polys; p++)
    for (let j = 0; j < primes; j++) {
      const q = expected.moduli[j]!;
      const highBits = bitWidth(q) - 32;
      const qHigh = Number(q >> 32n);
      const qLow = Number(q & 0xffffffffn);
      readHighs(wire, highOffset, highBits, highs);
      const lows = WIRE_HEADER_BYTES + 4 * (p * primes + j) * degree;
      for (let c = 0; c < degree; c++) {
        if (highs[c]! < qHigh) continue;
        const o = lows + 4 * c;
        const low =
          (wire[o]! | (wire[o + 1]! << 8) | (wire[o + 2]! << 16) | (wire[o + 3]! << 24)) >>> 0;
        if (highs[c]! > qHigh || low >= qLow)
          throw new InvalidCiphertextError(
            `residue ${c} of polynomial ${p}, prime ${j} is not reduced modulo its prime`,
          );
      }
      highOffset += (degree * highBits) / 8;
    }
}

/**
 * sum ← sum + wire, residue by residue modulo each prime, in one pass over the wire bytes (sum:
 * both polynomials, prime by prime, reduced). The wire must have passed `checkCiphertext`.
 */
export function addCiphertextInto(
  sum: Float64Array,
  wire: Uint8Array,
  expected: CiphertextExpectations,
  roundedSum?: Float64Array,
): void {
  if (isCompactWire(wire)) {
    addCompactInto(sum, wire, expected, roundedSum);
    return;
  }
  const { degree, primes } = checkWireHeader(wire, expected);
  if (sum.length !== 2 * degree * primes)
    throw new RangeError(`addCiphertextInto: a sum of ${2 * degree * primes} residues`);
  addPolynomials(sum, 0, wire, 2, expected);
}

/**
 * sum[from…] ← sum[from…] + the `polys` polynomials a checked wire body holds (low words, then
 * packed high parts), residue by residue modulo each prime.
 */
function addPolynomials(
  sum: Float64Array,
  from: number,
  wire: Uint8Array,
  polys: number,
  expected: CiphertextExpectations,
): void {
  const degree = expected.polyModulusDegree;
  const primes = expected.moduli.length;
  const highs = highsFor(degree);
  let highOffset = WIRE_HEADER_BYTES + 4 * polys * degree * primes;
  for (let p = 0; p < polys; p++)
    for (let j = 0; j < primes; j++) {
      const highBits = bitWidth(expected.moduli[j]!) - 32;
      const q = Number(expected.moduli[j]!);
      readHighs(wire, highOffset, highBits, highs);
      const block = (p * primes + j) * degree;
      let t = from + block;
      for (let c = 0, o = WIRE_HEADER_BYTES + 4 * block; c < degree; c++, o += 4, t++) {
        const low =
          (wire[o]! | (wire[o + 1]! << 8) | (wire[o + 2]! << 16) | (wire[o + 3]! << 24)) >>> 0;
        const value = sum[t]! + highs[c]! * 2 ** 32 + low;
        sum[t] = value >= q ? value - q : value;
      }
      highOffset += (degree * highBits) / 8;
    }
}

/**
 * A compact upload that passed `checkCiphertext` into a running sum: c1 into the sum's c1
 * residues, w′ into `roundedSum` (N integers mod q0, coefficient form), which `expandRoundedC0`
 * turns into c0's residues mod q0 (mod q1 they are zero).
 */
function addCompactInto(
  sum: Float64Array,
  wire: Uint8Array,
  expected: CiphertextExpectations,
  roundedSum: Float64Array | undefined,
): void {
  const { degree, primes } = checkWireHeader(wire, expected, 2, true);
  if (sum.length !== 2 * degree * primes || roundedSum?.length !== degree)
    throw new RangeError('addCiphertextInto: a sum of c0, c1 and N rounded c0 coefficients');
  // Checked already (`checkCiphertext`, when the update was pushed): c1 added in one pass, w′
  // decoded here, where they are summed, and nowhere else on the upload path.
  addPolynomials(sum, degree * primes, wire, 1, expected);
  addRoundedC0(wire, expected, roundedSum);
}

/** The header checks of the module comment; the geometry they establish. */
function checkWireHeader(
  wire: Uint8Array,
  expected: CiphertextExpectations,
  size: WireSize = 2,
  compact = false,
): { degree: number; primes: number; scale: number } {
  const fail = (message: string): never => {
    throw new InvalidCiphertextError(message);
  };
  if (wire.length < WIRE_HEADER_BYTES) fail(`ciphertext of ${wire.length} bytes is truncated`);
  if ((compact ? COMPACT_MAGIC : MAGIC).some((byte, i) => wire[i] !== byte))
    fail(
      isCompactWire(wire)
        ? 'a compact (member upload) ciphertext where a full one is needed'
        : 'not a veilsum ciphertext (bad magic); encrypt with the veilsum SDK',
    );
  if (compact && !expected.compactC0) fail('these parameters have no compact ciphertexts');
  const view = new DataView(wire.buffer, wire.byteOffset, wire.byteLength);
  if (!Buffer.from(wire.subarray(4, 36)).equals(Buffer.from(expected.parmsId)))
    fail("ciphertext was made for other encryption parameters (parms_id differs from the round's)");
  const scale = view.getFloat64(36, true);
  if (scale !== expected.scale) fail(`scale ${scale}, the round uses ${expected.scale}`);
  const degree = view.getUint32(44, true);
  if (degree !== expected.polyModulusDegree)
    fail(`poly modulus degree ${degree}, the round uses ${expected.polyModulusDegree}`);
  const primes = wire[48]!;
  if (primes !== expected.moduli.length)
    fail(`${primes} primes, the round uses ${expected.moduli.length}`);
  if (wire[49] !== size)
    fail(
      size === 2
        ? `ciphertext has ${wire[49]} polynomials; a fresh encryption has 2`
        : `partial decryption has ${wire[49]} polynomials, not 1`,
    );
  if (wire[50] !== 1) fail('ciphertext is not in NTT form');
  if (wire[51] !== 0) fail(`ciphertext header pad byte is ${wire[51]}, not 0`);
  const { major, minor } = expected.sealVersion;
  if (wire[52] !== major || wire[53] !== minor)
    fail(`SEAL serialization version ${wire[52]}.${wire[53]}; the round uses ${major}.${minor}`);
  const length = compact ? compactWireLength(expected) : wireLength(expected, size);
  if (wire.length !== length)
    fail(
      `${size === 2 ? 'ciphertext' : 'partial decryption'} is ${wire.length} bytes; the round's parameters give ${length}`,
    );
  return { degree, primes, scale };
}

/**
 * Decodes every residue of polynomial `poly` of a header-checked wire ciphertext and checks it is
 * reduced modulo its prime. Residue r of the ciphertext (polynomial by polynomial, prime by prime)
 * goes to words 2·(r + offset) (low 32 bits) and 2·(r + offset) + 1 (high bits): SEAL's layout.
 */
function readPolynomial(
  wire: Uint8Array,
  expected: CiphertextExpectations,
  poly: number,
  words: Uint32Array,
  offset: number,
  size: WireSize = 2,
): void {
  const degree = expected.polyModulusDegree;
  const primes = expected.moduli.length;
  const residues = size * degree * primes;
  const highs = highsFor(degree);
  let highOffset = WIRE_HEADER_BYTES + 4 * residues;
  for (let p = 0; p < poly; p++)
    for (const q of expected.moduli) highOffset += (degree * (bitWidth(q) - 32)) / 8;
  for (let j = 0; j < primes; j++) {
    const q = expected.moduli[j]!;
    const highBits = bitWidth(q) - 32;
    const qHigh = Number(q >> 32n);
    const qLow = Number(q & 0xffffffffn);
    const block = (poly * primes + j) * degree;
    readHighs(wire, highOffset, highBits, highs);
    let o = WIRE_HEADER_BYTES + 4 * block;
    let w = 2 * (block + offset);
    for (let c = 0; c < degree; c++, o += 4, w += 2) {
      const low =
        (wire[o]! | (wire[o + 1]! << 8) | (wire[o + 2]! << 16) | (wire[o + 3]! << 24)) >>> 0;
      const high = highs[c]!;
      if (high > qHigh || (high === qHigh && low >= qLow))
        throw new InvalidCiphertextError(
          `residue ${c} of polynomial ${poly}, prime ${j} is not reduced modulo its prime`,
        );
      words[w] = low;
      words[w + 1] = high;
    }
    highOffset += (degree * highBits) / 8;
  }
}

/** The bit-packed high parts of one (polynomial, prime) block into `out` (see packCiphertext). */
function readHighs(wire: Uint8Array, offset: number, highBits: number, out: Uint32Array): void {
  const degree = out.length;
  if (highBits === 20) {
    // Two 20-bit high parts per 5 bytes.
    for (let c = 0, o = offset; c < degree; c += 2, o += 5) {
      out[c] = wire[o]! | (wire[o + 1]! << 8) | ((wire[o + 2]! & 0x0f) << 16);
      out[c + 1] = (wire[o + 2]! >>> 4) | (wire[o + 3]! << 4) | (wire[o + 4]! << 12);
    }
  } else if (highBits === 28) {
    // Two 28-bit high parts per 7 bytes.
    for (let c = 0, o = offset; c < degree; c += 2, o += 7) {
      out[c] =
        wire[o]! | (wire[o + 1]! << 8) | (wire[o + 2]! << 16) | ((wire[o + 3]! & 0x0f) << 24);
      out[c + 1] =
        (wire[o + 3]! >>> 4) | (wire[o + 4]! << 4) | (wire[o + 5]! << 12) | (wire[o + 6]! << 20);
    }
  } else {
    const reader = new BitReader(wire, offset);
    for (let c = 0; c < degree; c++) out[c] = reader.read(highBits);
  }
}

function writeSealHeader(
  view: DataView,
  offset: number,
  size: number,
  major: number,
  minor: number,
): void {
  view.setUint16(offset, SEAL_MAGIC, true);
  view.setUint8(offset + 2, SEAL_HEADER_BYTES);
  view.setUint8(offset + 3, major);
  view.setUint8(offset + 4, minor);
  view.setBigUint64(offset + 8, BigInt(size), true);
}
