import { CryptoInputError } from '../validate.ts';
import { Wasm, type WasmMemory } from './wasm.ts';
import { ROW_COMBINATIONS_WASM_BASE64 } from './row-combinations-wasm.ts';

/**
 * The encryption proof's row combinations, Σ_i c_ji·x_i for every row j (c_ji ∈ {−1, 0, 1}),
 * in WebAssembly (row-combinations.wat): 64-bit integers, two lanes per SIMD instruction, no
 * limb splitting (a sum of 128 residues below 2^52 fits an i64). Columns are taken three at a
 * time: each triple's 13 distinct signed sums (and their negations) are formed once per cache
 * block and each row adds or subtracts the one its three challenges select ("method of four
 * Russians"), so a row costs about one vector addition per three columns.
 *
 * Columns are written straight into the module's memory as little-endian (low, high) 32-bit word
 * pairs by `fill`, which is how wire ciphertexts decode (ciphertext-wire.ts).
 */
export interface RowColumns {
  readonly count: number;
  /** 64-bit integers per column. */
  readonly length: number;
  /** Writes column i as 2·length words (low, high) of two's-complement 64-bit integers. */
  fill(i: number, words: Uint32Array): void;
}

/** Reduction of the row sums modulo the primes: value k belongs to prime ⌊(k mod primes·N)/N⌋. */
export interface RowReduction {
  readonly degree: number;
  readonly moduli: readonly number[];
}

const TABLE = 0; // 27 combination pointers (i32)
const MODULI = 128; // up to 8 primes (i64)
const INVERSES = 192; // their inverses (f64)
const SELECTIONS = 256;
const MAX_BLOCK = 256;

interface Exports {
  memory: WasmMemory;
  combine(...args: number[]): void;
  reduce(at: number, n: number, degree: number, primes: number, moduli: number, inv: number): void;
  toFloat(at: number, n: number): void;
}

let compiled: object | undefined;
let instance: Exports | undefined;

/**
 * Row sums for `rows` rows (challenges row-major: c_ji at j·count + i): reduced modulo the primes
 * into [0, q) when `reduction` is given (the verifier's Σ c_ji·c1_i), else exact signed sums (the
 * prover's Σ c_ji·(v_i ‖ e1_i)), each row a fresh Float64Array of `length` values — or, with
 * `views`, a view into the module's memory that the next call overwrites (for callers that read
 * the rows at once: no copy of rows × length values).
 */
export function combineRows(
  challenges: Int8Array,
  rows: number,
  columns: RowColumns,
  reduction?: RowReduction,
  views = false,
): Float64Array[] {
  const { count, length } = columns;
  if (challenges.length !== rows * count)
    throw new CryptoInputError('combineRows: one challenge per row and column');
  if (count < 1 || count > 1 << 16 || length < 2 || length % 2 !== 0)
    throw new CryptoInputError('combineRows: 1 to 65 536 columns of an even length');
  if (reduction && (reduction.moduli.length > 8 || length % reduction.degree !== 0))
    throw new CryptoInputError('combineRows: at most 8 primes, whole polynomials');
  const wasm = exportsOf();
  let block = MAX_BLOCK;
  while (length % block !== 0) block /= 2;
  if (block < 2) throw new CryptoInputError('combineRows: the length must be a multiple of 2');
  const triples = Math.ceil(count / 3);
  const align = (bytes: number) => Math.ceil(bytes / 16) * 16;
  const zero = align(SELECTIONS + triples * rows);
  const combos = zero + block * 8;
  const sums = combos + 10 * block * 8;
  const cols = sums + rows * length * 8;
  const end = cols + count * length * 8;
  const memory = wasm.memory;
  if (end > memory.buffer.byteLength)
    memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65_536));
  const bytes = new Uint8Array(memory.buffer);
  // Per triple and row, the combination its three entries select (13: none).
  for (let g = 0, t = 0; g < count; g += 3, t++)
    for (let j = 0; j < rows; j++) {
      const row = j * count + g;
      const ea = challenges[row]!;
      const eb = g + 1 < count ? challenges[row + 1]! : 0;
      const ec = g + 2 < count ? challenges[row + 2]! : 0;
      bytes[SELECTIONS + t * rows + j] = (ea + 1) * 9 + (eb + 1) * 3 + (ec + 1);
    }
  bytes.fill(0, zero, combos);
  bytes.fill(0, sums, cols);
  for (let i = 0; i < count; i++)
    columns.fill(i, new Uint32Array(memory.buffer, cols + i * length * 8, 2 * length));
  wasm.combine(cols, count, length, rows, SELECTIONS, sums, combos, zero, TABLE, block);
  if (reduction) {
    const view = new DataView(memory.buffer);
    reduction.moduli.forEach((q, p) => {
      view.setBigInt64(MODULI + 8 * p, BigInt(q), true);
      view.setFloat64(INVERSES + 8 * p, 1 / q, true);
    });
    wasm.reduce(sums, rows * length, reduction.degree, reduction.moduli.length, MODULI, INVERSES);
  } else wasm.toFloat(sums, rows * length);
  return Array.from({ length: rows }, (_, j) => {
    const row = new Float64Array(memory.buffer, sums + j * length * 8, length);
    return views ? row : row.slice();
  });
}

/** Writes small signed integers as 64-bit word pairs (the prover's witness columns). */
export function fillSigned(values: ArrayLike<number>, words: Uint32Array): void {
  for (let k = 0; k < values.length; k++) {
    const value = values[k]!;
    words[2 * k] = value >>> 0;
    words[2 * k + 1] = value < 0 ? 0xffffffff : 0;
  }
}

/** Writes residues (integers in [0, 2^53)) as 64-bit word pairs (the verifier's c1 columns). */
export function fillResidues(values: ArrayLike<number>, words: Uint32Array): void {
  for (let k = 0; k < values.length; k++) {
    const high = Math.floor(values[k]! / 2 ** 32);
    words[2 * k] = values[k]! - high * 2 ** 32;
    words[2 * k + 1] = high;
  }
}

function exportsOf(): Exports {
  if (!instance) {
    compiled ??= new Wasm.Module(Buffer.from(ROW_COMBINATIONS_WASM_BASE64, 'base64'));
    instance = new Wasm.Instance(compiled, {}).exports as unknown as Exports;
  }
  return instance;
}
