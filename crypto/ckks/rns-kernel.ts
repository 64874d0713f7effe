import { RNS_KERNEL_WASM_BASE64 } from './rns-kernel-wasm.ts';
import { Wasm, type WasmMemory } from './wasm.ts';
import type { NttTables } from './ntt.ts';
import { CryptoInputError } from '../validate.ts';
import { inverseMod } from './coefficient-encoding.ts';

/**
 * Threshold decryption's RNS arithmetic in WebAssembly (rns-kernel.wat): 64-bit integers, the
 * modular product through a quotient estimated in doubles (no BigInt, no 26-bit limbs), SEAL's
 * negacyclic NTT (the same convention as ntt.ts) and the CRT of centredValues. One kernel per
 * RNS context, with its own memory holding the NTT tables and the polynomials in flight:
 *
 * - a keyholder's partial of one ciphertext: `sumWords` ← c1 (wireResidueWords), `flood(...)`,
 *   then `partial()` gives d = share·c1 + NTT(flood) as word pairs for the wire;
 * - the combiner: `sumWords` ← c0, `double()`, for each partial `termWords` ← d then `addTerm()`,
 *   then `centred(scale)` gives the values.
 *
 * The primes must lie below 2^52 (CkksEngine checks that of its parameter sets).
 */

interface Exports {
  memory: WasmMemory;
  mulmod(a: bigint, b: bigint, q: bigint, qinv: number): bigint;
  forwardNtt(v: number, roots: number, n: number, q: bigint, qinv: number): void;
  inverseNtt(
    v: number,
    roots: number,
    n: number,
    q: bigint,
    qinv: number,
    inverseDegree: bigint,
  ): void;
  splitResidues(
    out: number,
    high: number,
    low: number,
    n: number,
    q: bigint,
    qinv: number,
    radix: bigint,
  ): void;
  mulAdd(out: number, a: number, b: number, add: number, n: number, q: bigint, qinv: number): void;
  addInto(dst: number, src: number, n: number, q: bigint): void;
  byteResidues(out: number, input: number, n: number, q: bigint): void;
  doubleResidues(out: number, input: number, n: number, q: bigint): void;
  toDoubles(out: number, input: number, n: number): void;
  centred(
    out: number,
    res: number,
    n: number,
    primes: number,
    moduli: number,
    qinvs: number,
    inverses: number,
    digits: number,
    scale: number,
  ): void;
}

let compiled: object | undefined;

function instantiate(): Exports {
  compiled ??= new Wasm.Module(Buffer.from(RNS_KERNEL_WASM_BASE64, 'base64'));
  return new Wasm.Instance(compiled, {}).exports as unknown as Exports;
}

const PAGE = 65536;
const MAX_PRIMES = 16;

/** a·b mod q by the kernel's product (0 ≤ a, b < q < 2^52): exported for its property tests. */
export function kernelMulMod(a: bigint, b: bigint, q: bigint): bigint {
  standalone ??= instantiate();
  return BigInt.asUintN(64, standalone.mulmod(a, b, q, 1 / Number(q)));
}
let standalone: Exports | undefined;

export class RnsKernel {
  readonly degree: number;
  readonly moduli: readonly bigint[];
  private readonly wasm: Exports;
  private readonly qinvs: number[];
  private readonly inverseDegrees: bigint[];
  private readonly radixResidues: bigint[];
  /** q1⁻¹ mod q0 with two primes (`encryptCompact`), once per kernel; else undefined. */
  private readonly q1InverseModQ0: bigint | undefined;
  // Byte addresses in the kernel's memory.
  private readonly roots: number;
  private readonly inverseRoots: number;
  private readonly share: number;
  private readonly sum: number;
  private readonly term: number;
  private readonly high: number;
  private readonly low: number;
  private readonly key: number;
  private readonly pair: number;
  private readonly transformed: number;
  private readonly bytes: number;
  private readonly doubles: number;
  private readonly out: number;
  private readonly moduliAt: number;
  private readonly qinvsAt: number;
  private readonly inversesAt: number;
  private readonly digitsAt: number;
  /** The (low, high) 32-bit word pairs of the polynomials the caller fills (primes·N residues). */
  readonly shareWords: Uint32Array;
  readonly sumWords: Uint32Array;
  readonly termWords: Uint32Array;
  private readonly highs: Float64Array;
  private readonly byteInput: Int8Array;
  private readonly doubleInput: Float64Array;
  /** c0 then c1 of the last `encrypt`, as (low, high) word pairs. */
  private readonly pairWords: Uint32Array;
  private loadedKey: object | undefined;
  private readonly lows: Float64Array;
  private readonly values: Float64Array;

  constructor(moduli: readonly bigint[], tables: readonly NttTables[], radix = 2 ** 32) {
    const primes = moduli.length;
    const degree = tables[0]?.degree ?? 0;
    if (primes === 0 || primes > MAX_PRIMES || tables.length !== primes)
      throw new CryptoInputError('RnsKernel: one NTT table per prime, at most 16 primes');
    if (moduli.some((q, j) => q >= 2n ** 52n || q < 3n || tables[j]!.modulus !== q))
      throw new CryptoInputError('RnsKernel: primes must be odd, below 2^52 and match the tables');
    this.degree = degree;
    this.moduli = moduli;
    this.wasm = instantiate();
    this.qinvs = moduli.map((q) => 1 / Number(q));
    this.inverseDegrees = tables.map((t) => t.inverseDegree);
    this.radixResidues = moduli.map((q) => BigInt(radix) % q);
    const poly = 8 * primes * degree;
    let at = 0;
    const take = (bytes: number) => {
      const start = at;
      at += Math.ceil(bytes / 16) * 16;
      return start;
    };
    this.roots = take(poly);
    this.inverseRoots = take(poly);
    this.share = take(poly);
    this.sum = take(poly);
    this.term = take(poly);
    this.high = take(8 * degree);
    this.low = take(8 * degree);
    this.key = take(2 * poly);
    this.pair = take(2 * poly);
    this.transformed = take(poly);
    this.bytes = take(2 * degree);
    this.doubles = take(poly);
    this.out = take(8 * degree);
    this.moduliAt = take(8 * MAX_PRIMES);
    this.qinvsAt = take(8 * MAX_PRIMES);
    this.inversesAt = take(8 * MAX_PRIMES * MAX_PRIMES);
    this.digitsAt = take(8 * MAX_PRIMES);
    const pages = Math.ceil(at / PAGE) - this.wasm.memory.buffer.byteLength / PAGE;
    if (pages > 0) this.wasm.memory.grow(pages);
    const buffer = this.wasm.memory.buffer;
    const u64 = (start: number, length: number) => new BigUint64Array(buffer, start, length);
    tables.forEach((t, j) => {
      u64(this.roots + j * degree * 8, degree).set(t.rootPowers);
      u64(this.inverseRoots + j * degree * 8, degree).set(t.inverseRootPowers);
    });
    u64(this.moduliAt, primes).set(moduli);
    new Float64Array(buffer, this.qinvsAt, primes).set(this.qinvs);
    const inverses = u64(this.inversesAt, primes * primes);
    const numbers = moduli.map(Number);
    for (let j = 0; j < primes; j++)
      for (let i = 0; i < j; i++)
        inverses[j * primes + i] = BigInt(inverseMod(numbers[i]! % numbers[j]!, numbers[j]!));
    this.q1InverseModQ0 =
      primes === 2 ? BigInt(inverseMod(numbers[1]! % numbers[0]!, numbers[0]!)) : undefined;
    const words = (start: number) => new Uint32Array(buffer, start, 2 * primes * degree);
    this.shareWords = words(this.share);
    this.sumWords = words(this.sum);
    this.termWords = words(this.term);
    this.highs = new Float64Array(buffer, this.high, degree);
    this.byteInput = new Int8Array(buffer, this.bytes, 2 * degree);
    this.doubleInput = new Float64Array(buffer, this.doubles, primes * degree);
    this.pairWords = new Uint32Array(buffer, this.pair, 4 * primes * degree);
    this.lows = new Float64Array(buffer, this.low, degree);
    this.values = new Float64Array(buffer, this.out, degree);
  }

  /**
   * Zeroes every region that held secret material of the last calls (a keyholder's weighted
   * share, a member's v, e1, message and proof vectors, the products and transforms built from
   * them); the public key, NTT tables and moduli stay. Callers wipe before returning, so nothing
   * secret outlives the call in this memory (a heap snapshot or core dump would carry it).
   */
  wipe(): void {
    const buffer = this.wasm.memory.buffer;
    new Uint8Array(buffer, this.share, this.key - this.share).fill(0);
    new Uint8Array(buffer, this.pair, this.moduliAt - this.pair).fill(0);
  }

  /** Sets the share a keyholder multiplies by (NTT form, reduced residues). */
  setShare(share: BigUint64Array): void {
    if (share.length !== this.moduli.length * this.degree)
      throw new CryptoInputError('RnsKernel: the share does not match the RNS context');
    new BigUint64Array(this.shareWords.buffer, this.share, share.length).set(share);
  }

  /**
   * The flood radix·high + low (coefficient form; integers below 2^63 in magnitude, as
   * sampleFloodingNoise gives them) into the term, in NTT form.
   */
  flood(high: Float64Array, low: Float64Array): void {
    const { degree } = this;
    if (high.length !== degree || low.length !== degree)
      throw new CryptoInputError('RnsKernel: a flood of N coefficients');
    this.highs.set(high);
    this.lows.set(low);
    this.moduli.forEach((q, j) => {
      const at = this.term + j * degree * 8;
      this.wasm.splitResidues(
        at,
        this.high,
        this.low,
        degree,
        q,
        this.qinvs[j]!,
        this.radixResidues[j]!,
      );
      this.wasm.forwardNtt(at, this.roots + j * degree * 8, degree, q, this.qinvs[j]!);
    });
  }

  /**
   * Sets the public key (p0 then a, NTT form, reduced: 2·primes·N residues) that `encrypt` and
   * `keyProduct` use; `owner` identifies it so a key already loaded is not copied again.
   */
  setKey(owner: object, residues: BigUint64Array): void {
    if (this.loadedKey === owner) return;
    if (residues.length !== 2 * this.moduli.length * this.degree)
      throw new CryptoInputError('RnsKernel: the key does not match the RNS context');
    new BigUint64Array(this.pairWords.buffer, this.key, residues.length).set(residues);
    this.loadedKey = owner;
  }

  /**
   * (c0, c1) = (p0·v + m, a·v + e1) in NTT form, as word pairs (c0's residues then c1's, prime by
   * prime) valid until the next call: v and e1 small signed integers in coefficient form, m the
   * message with its noise as reduced residues (primes·N, coefficient form).
   */
  encrypt(v: Int8Array, e1: Int8Array, message: Float64Array): Uint32Array {
    const { degree, moduli } = this;
    this.loadEncryption(v, e1, message);
    moduli.forEach((q, j) => {
      const block = j * degree * 8;
      const c0 = this.pair + block;
      const qinv = this.qinvs[j]!;
      this.encryptC1(j);
      this.wasm.doubleResidues(c0, this.doubles + block, degree, q);
      this.wasm.forwardNtt(c0, this.roots + block, degree, q, qinv);
      this.wasm.mulAdd(c0, this.key + block, this.transformed + block, c0, degree, q, qinv);
    });
    return this.pairWords;
  }

  /** v, e1 and the message into kernel memory, for `encrypt` and `encryptCompact`. */
  private loadEncryption(v: Int8Array, e1: Int8Array, message: Float64Array): void {
    const { degree, moduli } = this;
    if (v.length !== degree || e1.length !== degree || message.length !== moduli.length * degree)
      throw new CryptoInputError('RnsKernel: an encryption of N coefficients');
    this.byteInput.set(v, 0);
    this.byteInput.set(e1, degree);
    this.doubleInput.set(message);
  }

  /**
   * Prime j of an encryption whose inputs are loaded: NTT(v) into `transformed` (what c0 is made
   * from) and c1 = a·v + e1, NTT form, into the pair's second polynomial.
   */
  private encryptC1(j: number): void {
    const { degree } = this;
    const q = this.moduli[j]!;
    const block = j * degree * 8;
    // The pair's and the key's second polynomial (c1; a) start one polynomial in.
    const second = this.moduli.length * degree * 8 + block;
    const c1 = this.pair + second;
    const t = this.transformed + block;
    const roots = this.roots + block;
    const qinv = this.qinvs[j]!;
    this.wasm.byteResidues(t, this.bytes, degree, q);
    this.wasm.forwardNtt(t, roots, degree, q, qinv);
    this.wasm.byteResidues(c1, this.bytes + degree, degree, q);
    this.wasm.forwardNtt(c1, roots, degree, q, qinv);
    this.wasm.mulAdd(c1, this.key + second, t, c1, degree, q, qinv);
  }

  /**
   * `encrypt` for a compact upload (ciphertext-wire.ts, `CompactC0`; two primes): c1 = a·v + e1
   * in NTT form as word pairs (a view valid until the next call), and c0 = p0·v + m rounded,
   * w′ = round(round(c0/q1) mod q0 / 2^shift) per coefficient (c0 its integer in [0, q0·q1)).
   * c0 is made in coefficient form (p0·v transformed back, m added) rather than transformed
   * forward: as many transforms as `encrypt`.
   */
  encryptCompact(
    v: Int8Array,
    e1: Int8Array,
    message: Float64Array,
    shift: number,
  ): { c1: Uint32Array; rounded: Float64Array } {
    const { degree, moduli } = this;
    const primes = moduli.length;
    const q1InverseModQ0 = this.q1InverseModQ0;
    if (q1InverseModQ0 === undefined)
      throw new CryptoInputError('RnsKernel: compact c0 needs two primes');
    this.loadEncryption(v, e1, message);
    new BigUint64Array(this.sumWords.buffer, this.sum, degree).fill(0n);
    moduli.forEach((q, j) => {
      const block = j * degree * 8;
      const c0 = this.pair + block;
      const t = this.transformed + block;
      const qinv = this.qinvs[j]!;
      this.encryptC1(j);
      this.wasm.mulAdd(c0, this.key + block, t, this.sum, degree, q, qinv);
      this.wasm.inverseNtt(c0, this.inverseRoots + block, degree, q, qinv, this.inverseDegrees[j]!);
      this.wasm.doubleResidues(this.term + block, this.doubles + block, degree, q);
      this.wasm.addInto(c0, this.term + block, degree, q);
    });
    const [q0, q1] = [Number(moduli[0]!), Number(moduli[1]!)];
    const residues = new Float64Array(2 * degree);
    this.wasm.toDoubles(this.doubles, this.pair, 2 * degree);
    residues.set(this.doubleInput.subarray(0, 2 * degree));
    // c0 = r1 + q1·t with t = (r0 − r1)·q1⁻¹ mod q0 (Garner), so round(c0/q1) = t + [r1 > q1/2].
    const differences = this.doubleInput.subarray(0, degree);
    for (let c = 0; c < degree; c++) differences[c] = residues[c]! - residues[degree + c]!;
    const t = this.transformed;
    this.wasm.doubleResidues(t, this.doubles, degree, moduli[0]!);
    new BigUint64Array(this.termWords.buffer, this.term, degree).fill(q1InverseModQ0);
    this.wasm.mulAdd(t, t, this.term, this.sum, degree, moduli[0]!, this.qinvs[0]!);
    this.wasm.toDoubles(this.doubles, t, degree);
    const garner = this.doubleInput.subarray(0, degree);
    const rounded = new Float64Array(degree);
    const unit = 2 ** shift;
    for (let c = 0; c < degree; c++) {
      let w = garner[c]! + (residues[degree + c]! > (q1 - 1) / 2 ? 1 : 0);
      if (w >= q0) w -= q0;
      rounded[c] = Math.floor((w + unit / 2) / unit);
    }
    return { c1: this.pairWords.subarray(2 * primes * degree), rounded };
  }

  /**
   * c0's residues mod q0 (NTT form, N Numbers) of the sum of compact uploads whose w′ add up to
   * `rounded` (N integers mod q0, coefficient form): multiplier·rounded. Mod q1 they are zero
   * (ciphertext-wire.ts, `CompactC0`), so only the q0 half is made.
   */
  expandRoundedC0(rounded: Float64Array, multiplier: bigint): Float64Array {
    const { degree, moduli } = this;
    if (moduli.length !== 2 || rounded.length !== degree)
      throw new CryptoInputError('RnsKernel: compact c0 needs two primes and N coefficients');
    const t = this.transformed;
    this.doubleInput.set(rounded);
    this.wasm.doubleResidues(t, this.doubles, degree, moduli[0]!);
    new BigUint64Array(this.termWords.buffer, this.term, degree).fill(multiplier);
    new BigUint64Array(this.sumWords.buffer, this.sum, degree).fill(0n);
    this.wasm.mulAdd(t, t, this.term, this.sum, degree, moduli[0]!, this.qinvs[0]!);
    this.wasm.forwardNtt(t, this.roots, degree, moduli[0]!, this.qinvs[0]!);
    this.wasm.toDoubles(this.doubles, t, degree);
    return this.doubleInput.slice(0, degree);
  }

  /**
   * a·x + y mod Q in NTT form, as reduced residues (Numbers, prime by prime), for x and y in
   * coefficient form: each N integers below 2^53 in magnitude (the same under every prime) or
   * primes·N residues.
   */
  keyProduct(x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
    const { degree, moduli } = this;
    const primes = moduli.length;
    const out = new Float64Array(primes * degree);
    const results = new Float64Array(this.doubleInput.buffer, this.high, degree);
    moduli.forEach((q, j) => {
      const block = j * degree * 8;
      const t = this.transformed + block;
      const u = this.pair + block;
      const roots = this.roots + block;
      const qinv = this.qinvs[j]!;
      const load = (values: ArrayLike<number>, into: number) => {
        if (values.length !== degree && values.length !== primes * degree)
          throw new CryptoInputError('RnsKernel: a polynomial of N or primes·N coefficients');
        const from = values.length === degree ? 0 : j * degree;
        const input = this.doubleInput.subarray(0, degree);
        if (ArrayBuffer.isView(values))
          input.set((values as unknown as Float64Array).subarray(from, from + degree));
        else for (let c = 0; c < degree; c++) input[c] = values[from + c]!;
        this.wasm.doubleResidues(into, this.doubles, degree, q);
        this.wasm.forwardNtt(into, roots, degree, q, qinv);
      };
      load(x, t);
      load(y, u);
      this.wasm.mulAdd(u, this.key + primes * degree * 8 + block, t, u, degree, q, qinv);
      this.wasm.toDoubles(this.high, u, degree);
      out.set(results, j * degree);
    });
    return out;
  }

  /**
   * The coefficient form of an NTT-form polynomial given as reduced residues (primes·N Numbers,
   * prime by prime), as the same.
   */
  coefficients(residues: Float64Array): Float64Array {
    const { degree, moduli } = this;
    if (residues.length !== moduli.length * degree)
      throw new CryptoInputError('RnsKernel: a polynomial of primes·N residues');
    this.doubleInput.set(residues);
    const out = new Float64Array(residues.length);
    moduli.forEach((q, j) => {
      const block = j * degree * 8;
      this.wasm.doubleResidues(this.sum + block, this.doubles + block, degree, q);
      this.transformSum(j, false);
      this.wasm.toDoubles(this.doubles + block, this.sum + block, degree);
    });
    out.set(this.doubleInput);
    return out;
  }

  /** The term ← share·sum + term (NTT form), as word pairs: c1 in `sumWords`, the flood in the term. */
  partial(): Uint32Array {
    const { degree } = this;
    this.moduli.forEach((q, j) => {
      const offset = j * degree * 8;
      this.wasm.mulAdd(
        this.term + offset,
        this.share + offset,
        this.sum + offset,
        this.term + offset,
        degree,
        q,
        this.qinvs[j]!,
      );
    });
    return this.termWords;
  }

  /** sum ← 2·sum. */
  double(): void {
    this.moduli.forEach((q, j) => {
      const at = this.sum + j * this.degree * 8;
      this.wasm.addInto(at, at, this.degree, q);
    });
  }

  /** sum ← sum + term. */
  addTerm(): void {
    this.moduli.forEach((q, j) => {
      const offset = j * this.degree * 8;
      this.wasm.addInto(this.sum + offset, this.term + offset, this.degree, q);
    });
  }

  /**
   * The sum (NTT form) back to coefficients, and each coefficient as the signed integer in
   * (−Q/2, Q/2) it stands for, divided by `scale`: a view the next call overwrites.
   */
  centred(scale: number): Float64Array {
    for (let j = 0; j < this.moduli.length; j++) this.transformSum(j, false);
    this.wasm.centred(
      this.out,
      this.sum,
      this.degree,
      this.moduli.length,
      this.moduliAt,
      this.qinvsAt,
      this.inversesAt,
      this.digitsAt,
      scale,
    );
    return this.values;
  }

  /** The NTT of one prime's block of the sum, forward or back, in place. */
  transformSum(prime: number, forward: boolean): void {
    const offset = prime * this.degree * 8;
    const q = this.moduli[prime]!;
    if (forward)
      this.wasm.forwardNtt(
        this.sum + offset,
        this.roots + offset,
        this.degree,
        q,
        this.qinvs[prime]!,
      );
    else
      this.wasm.inverseNtt(
        this.sum + offset,
        this.inverseRoots + offset,
        this.degree,
        q,
        this.qinvs[prime]!,
        this.inverseDegrees[prime]!,
      );
  }
}
