import SEAL, {
  type Ciphertext,
  type Plaintext,
  type Encryptor,
  type Evaluator,
  type MainModule,
  type SEALContext,
} from 'node-seal';
import type { RandomSource } from '../random.ts';
import {
  FLOOD_RADIX,
  sampleBinomial,
  sampleFloodingNoise,
  sampleTernary,
  type SplitGaussian,
} from './gaussian.ts';
import { assertInteger, CryptoInputError } from '../validate.ts';
import {
  type CiphertextExpectations,
  InvalidCiphertextError,
  packCiphertext,
  addCiphertextInto,
  checkCiphertext,
  compactC0Shape,
  isCompactWire,
  packCiphertextWords,
  packCompactCiphertext,
  packPartialDecryptionWords,
  partialDecryptionWords,
  wireResidueWords,
  unpackCiphertext,
} from './ciphertext-wire.ts';
import { nttTables } from './ntt.ts';
import { type CkksParameterSet, valuesPerCiphertext } from './parameters.ts';
import { encodeCoefficients } from './coefficient-encoding.ts';
import { RnsKernel } from './rns-kernel.ts';
import {
  parseCiphertext,
  SEAL_HEADER_BYTES,
  serializeCiphertext,
  serializePlaintext,
} from './seal-serialization.ts';
import { lagrangeWeights, type RnsContext } from './threshold-decryption.ts';

/** The randomness of one encryption that its proof needs: c1 = v·a + e1 (coefficient form). */
export interface EncryptionWitness {
  readonly v: Int8Array;
  readonly e1: Int8Array;
}

/**
 * The collective public key at the data level, loaded for encryption and for proofs: (p0, a)
 * mod Q with the special prime's residues dropped (NTT form), as a SEAL ciphertext so SEAL does
 * the products. The caller deletes it.
 */
export class EncryptionKey {
  readonly keyCiphertext: SealCiphertextObject;
  /** p0 and a alone, as NTT-form plaintexts of scale 1: what encryptions and proofs multiply. */
  readonly p0Plain: SealPlaintextObject;
  readonly aPlain: SealPlaintextObject;
  /** p0 then a as residues (data primes, NTT form): what the WebAssembly kernel multiplies. */
  readonly residues: BigUint64Array;
  constructor(
    keyCiphertext: SealCiphertextObject,
    p0Plain: SealPlaintextObject,
    aPlain: SealPlaintextObject,
    residues: BigUint64Array,
  ) {
    this.keyCiphertext = keyCiphertext;
    this.p0Plain = p0Plain;
    this.aPlain = aPlain;
    this.residues = residues;
  }

  delete(): void {
    this.keyCiphertext.delete();
    this.p0Plain.delete();
    this.aPlain.delete();
  }
}

type Seal = MainModule;
type SealCiphertextObject = Ciphertext;
type SealEncryptor = Encryptor;
type SealPlaintextObject = Plaintext;

// Offsets inside SEAL's uncompressed Ciphertext (see seal-serialization.ts).
const CT_DATA_OFFSET = SEAL_HEADER_BYTES + 32 + 1 + 40 + SEAL_HEADER_BYTES + 8;

/**
 * Everything CKKS that runs inside SEAL (WebAssembly), for one parameter set: encryption of update
 * vectors, homomorphic sums, and the threshold-decryption arithmetic.
 *
 * Encoding is by coefficients (coefficient-encoding.ts), not by CKKS slots: a ciphertext holds N
 * values, value i as round(Δ·x_i) in coefficient i of the plaintext polynomial. A sum needs
 * nothing else (no rotations, no products of plaintexts), so the slot encoding's canonical
 * embedding bought nothing and cost half the density and √(N/2) of precision (parameters.ts §5).
 *
 * Threshold decryption runs in the WebAssembly kernel (rns-kernel.ts), not in SEAL: keyholder
 * i's partial d_i = 2·λ_i·s_i·c1 + NTT(f_i) is one pointwise product and one forward NTT of the
 * flood f_i (SEAL's convention, ntt.ts), on c1 alone; it travels as one polynomial. The combiner
 * adds 2·c0 + Σ d_i = 2·m + noise residue-wise, transforms it back and reads each coefficient
 * through the CRT. No BigInt loop touches the d-sized data, and SEAL objects are not made for it.
 */
export class CkksEngine {
  readonly set: CkksParameterSet;
  readonly seal: Seal;
  readonly context: SEALContext;
  readonly expectations: CiphertextExpectations;
  /** The data level (what ciphertexts live at) and the key level (data primes + special prime). */
  readonly dataRns: RnsContext;
  readonly keyRns: RnsContext;
  private readonly evaluator: Evaluator;
  private readonly templateCiphertext: ReturnType<typeof parseCiphertext>;
  private readonly templatePublicKey: ReturnType<typeof parseCiphertext>;
  /** Data primes as Numbers (< 2^53: exact). */
  readonly moduliNumbers: readonly number[];
  /** Coefficient-form ciphertext bytes at the data level, scale Δ, data zero, by size. */
  private readonly coefficientTemplates = new Map<number, Uint8Array>();
  private kernel: RnsKernel | undefined;
  /** NTT-form plaintext bytes at the data level, scale 1, data zero. */
  private readonly plaintextTemplate: Uint8Array;

  private constructor(set: CkksParameterSet, seal: Seal) {
    this.set = set;
    this.seal = seal;
    const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
    parms.setPolyModulusDegree(set.polyModulusDegree);
    parms.setCoeffModulus(
      seal.CoeffModulus.Create(set.polyModulusDegree, Int32Array.from(set.coeffModulusBits)),
    );
    this.context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
    if (!this.context.parametersSet())
      throw new CryptoInputError(
        `parameter set ${set.name} is not valid for SEAL at 128-bit security`,
      );
    const { degree, dataModuli, keyModuli } = {
      degree: set.polyModulusDegree,
      dataModuli: seal.jsArrayFromVecModulus(
        this.context.firstContextData().parms().coeffModulus(),
      ) as bigint[],
      keyModuli: seal.jsArrayFromVecModulus(
        this.context.keyContextData().parms().coeffModulus(),
      ) as bigint[],
    };
    const rns = (moduli: bigint[]): RnsContext => ({
      degree,
      moduli,
      tables: moduli.map((q) => nttTables(degree, q)),
    });
    this.dataRns = rns(dataModuli);
    this.keyRns = rns(keyModuli);
    this.evaluator = new seal.Evaluator(this.context);
    const keygen = new seal.KeyGenerator(this.context);
    const publicKey = keygen.createPublicKey();
    this.templatePublicKey = parseCiphertext(this.save(publicKey));
    const encryptor = new seal.Encryptor(this.context, publicKey);
    const zero = new seal.Ciphertext();
    const zeroPlain = new seal.Plaintext();
    const encoder = new seal.CKKSEncoder(this.context);
    encoder.encode(new Float64Array(1), 2 ** set.scaleBits, zeroPlain);
    encryptor.encrypt(zeroPlain, zero);
    this.templateCiphertext = parseCiphertext(this.save(zero));
    zero.delete();
    zeroPlain.delete();
    encoder.delete();
    encryptor.delete();
    publicKey.delete();
    keygen.delete();
    this.expectations = {
      parmsId: this.templateCiphertext.parmsId,
      polyModulusDegree: degree,
      moduli: dataModuli,
      scale: 2 ** set.scaleBits,
      sealVersion: {
        major: this.templateCiphertext.version.versionMajor,
        minor: this.templateCiphertext.version.versionMinor,
      },
    };
    this.moduliNumbers = dataModuli.map(Number);
    const compactC0 = compactC0Shape(dataModuli, 2 ** set.scaleBits);
    if (compactC0) this.expectations = { ...this.expectations, compactC0 };
    if (dataModuli.some((q) => q >= 2n ** 52n))
      throw new CryptoInputError('data primes above 52 bits are not supported');
    this.plaintextTemplate = serializePlaintext(
      {
        parmsId: this.expectations.parmsId,
        coeffCount: degree * dataModuli.length,
        scale: 1,
        data: new BigUint64Array(degree * dataModuli.length),
      },
      this.templateCiphertext.version,
    );
  }

  static async create(set: CkksParameterSet): Promise<CkksEngine> {
    return new CkksEngine(set, await SEAL());
  }

  /** Values one ciphertext holds: N, one per plaintext coefficient. */
  get valuesPerCiphertext(): number {
    return valuesPerCiphertext(this.set);
  }

  /** The SEAL PublicKey bytes of the collective key (Σ p_i, a), both at the key level. */
  publicKeyBytes(collective: BigUint64Array, a: BigUint64Array): Uint8Array {
    const data = new BigUint64Array(collective.length + a.length);
    data.set(collective, 0);
    data.set(a, collective.length);
    if (data.length !== this.templatePublicKey.data.length)
      throw new CryptoInputError('collective key does not match the parameter set');
    return serializeCiphertext({ ...this.templatePublicKey, data }, this.templatePublicKey.version);
  }

  /** An encryptor under a public key given as SEAL bytes (SEAL checks them on load). */
  encryptor(publicKey: Uint8Array): SealEncryptor {
    const key = new this.seal.PublicKey();
    try {
      key.loadFromArray(this.context, publicKey);
    } catch (error) {
      key.delete();
      throw new CryptoInputError(`not a public key for ${this.set.name}: ${String(error)}`);
    }
    const encryptor = new this.seal.Encryptor(this.context, key);
    key.delete();
    return encryptor;
  }

  /**
   * The collective key (SEAL PublicKey bytes, key level) for encryption with explicit randomness
   * and for proofs: (p0, a) mod Q, the special prime dropped (NTT is per prime, so the data-level
   * residues are the NTT form mod Q).
   */
  loadEncryptionKey(publicKey: Uint8Array): EncryptionKey {
    let parsed: ReturnType<typeof parseCiphertext>;
    try {
      parsed = parseCiphertext(publicKey);
    } catch (error) {
      throw new CryptoInputError(`not a public key for ${this.set.name}: ${String(error)}`);
    }
    const { degree } = this.dataRns;
    const keyPrimes = this.keyRns.moduli.length;
    const dataPrimes = this.dataRns.moduli.length;
    if (
      parsed.size !== 2 ||
      parsed.coeffModulusSize !== keyPrimes ||
      parsed.polyModulusDegree !== degree ||
      !parsed.nttForm
    )
      throw new CryptoInputError(`not a public key for ${this.set.name}`);
    const data = new BigUint64Array(2 * dataPrimes * degree);
    for (let p = 0; p < 2; p++)
      data.set(
        parsed.data.subarray(p * keyPrimes * degree, (p * keyPrimes + dataPrimes) * degree),
        p * dataPrimes * degree,
      );
    const bytes = serializeCiphertext(
      { ...this.templateCiphertext, nttForm: true, data },
      this.templateCiphertext.version,
    );
    const ct = new this.seal.Ciphertext();
    try {
      ct.loadFromArray(this.context, bytes);
    } catch (error) {
      ct.delete();
      throw new CryptoInputError(`not a public key for ${this.set.name}: ${String(error)}`);
    }
    return new EncryptionKey(
      ct,
      this.plaintextFromCiphertextPoly(ct, 0),
      this.plaintextFromCiphertextPoly(ct, 1),
      data,
    );
  }

  /**
   * Encrypts ciphertexts [0, count) of `values` (ciphertext k holds values [k·N, (k+1)·N) by
   * coefficient; the last is padded with zeros) with explicit randomness: c1 = v·a + e1,
   * c0 = v·p0 + e0 + m, v ternary, e0 and e1 centred binomial — SEAL-compatible ciphertexts whose
   * witnesses (v, e1) the encryption proof needs. Values must be finite and within ±maxAbsSum.
   */
  encryptWithWitnesses(
    key: EncryptionKey,
    values: Float32Array | Float64Array,
    count: number,
    random: RandomSource,
    options: { readonly compact?: boolean } = {},
  ): { wires: Uint8Array[]; witnesses: EncryptionWitness[] } {
    const compact = options.compact === true ? this.expectations.compactC0 : undefined;
    if (options.compact === true && !compact)
      throw new CryptoInputError(`parameter set ${this.set.name} has no compact ciphertexts`);
    const degree = this.set.polyModulusDegree;
    const wires: Uint8Array[] = [];
    const witnesses: EncryptionWitness[] = [];
    const kernel = this.rnsKernel();
    kernel.setKey(key, key.residues);
    const message = new Float64Array(degree * this.moduliNumbers.length);
    try {
      for (let k = 0; k < count; k++) {
        const v = sampleTernary(random, new Int8Array(degree));
        const e0 = sampleBinomial(random, new Int8Array(degree));
        const e1 = sampleBinomial(random, new Int8Array(degree));
        encodeCoefficients(
          values.subarray(k * degree, Math.min(values.length, (k + 1) * degree)),
          2 ** this.set.scaleBits,
          this.set.maxAbsSum,
          this.moduliNumbers,
          e0,
          message,
        );
        if (compact) {
          const { c1, rounded } = kernel.encryptCompact(v, e1, message, compact.shift);
          wires.push(packCompactCiphertext(c1, rounded, this.expectations));
        } else wires.push(packCiphertextWords(kernel.encrypt(v, e1, message), this.expectations));
        witnesses.push({ v, e1 });
      }
    } finally {
      // v, e1 and the message were in kernel memory (also when a value of a later chunk was
      // refused): the witnesses go to the prover, not there.
      kernel.wipe();
    }
    return { wires, witnesses };
  }

  /**
   * a·x_j + y_j mod Q for pairs of integer polynomials (coefficient form, |x|, |y| < 2^53): the
   * data residues, NTT form, prime by prime, as Numbers. The encryption proof's commitments,
   * made in the RNS kernel: two transforms and one pointwise product per pair.
   */
  keyProducts(
    key: EncryptionKey,
    xs: readonly ArrayLike<number>[],
    ys: readonly ArrayLike<number>[],
  ): Float64Array[] {
    if (xs.length !== ys.length) throw new CryptoInputError('keyProducts: one y per x');
    const kernel = this.rnsKernel();
    kernel.setKey(key, key.residues);
    try {
      return xs.map((x, p) => kernel.keyProduct(x, ys[p]!));
    } finally {
      kernel.wipe();
    }
  }

  /**
   * The coefficient form of NTT-form polynomials given as residues (primes·N Numbers in [0, q),
   * prime by prime), as the same, by the RNS kernel's inverse transform. The encryption proof's
   * verifier (encryption-proof.ts) brings each c1 out of NTT form with it.
   */
  coefficientResidues(polys: readonly Float64Array[]): Float64Array[] {
    const kernel = this.rnsKernel();
    return polys.map((residues) => kernel.coefficients(residues));
  }

  /**
   * A fresh copy of the coefficient-form template of `size` polynomials, its data zero and
   * writable as 32-bit words (the buffer is shifted so that the data, CT_DATA_OFFSET bytes in,
   * is aligned).
   */
  private templateCopy(size: number): { bytes: Uint8Array; words: Uint32Array } {
    const template = this.coefficientTemplate(size);
    const shift = (4 - (CT_DATA_OFFSET % 4)) % 4;
    const buffer = new ArrayBuffer(template.length + shift);
    const bytes = new Uint8Array(buffer, shift, template.length);
    bytes.set(template.subarray(0, CT_DATA_OFFSET));
    const words = new Uint32Array(
      buffer,
      shift + CT_DATA_OFFSET,
      (template.length - CT_DATA_OFFSET) / 4,
    );
    return { bytes, words };
  }

  private coefficientTemplate(size: number): Uint8Array {
    let template = this.coefficientTemplates.get(size);
    if (!template) {
      const perPoly = this.set.polyModulusDegree * this.moduliNumbers.length;
      template = serializeCiphertext(
        {
          ...this.templateCiphertext,
          size,
          nttForm: false,
          data: new BigUint64Array(size * perPoly),
        },
        this.templateCiphertext.version,
      );
      this.coefficientTemplates.set(size, template);
    }
    return template;
  }

  /** An NTT-form plaintext (scale 1) holding polynomial `poly` of a ciphertext. */
  private plaintextFromCiphertextPoly(ct: SealCiphertextObject, poly: number): SealPlaintextObject {
    const residues = this.set.polyModulusDegree * this.dataRns.moduli.length;
    const bytes = this.save(ct);
    const plain = this.plaintextTemplate.slice();
    const start = CT_DATA_OFFSET + poly * residues * 8;
    plain.set(bytes.subarray(start, start + residues * 8), plain.length - residues * 8);
    const out = new this.seal.Plaintext();
    out.loadFromArray(this.context, plain);
    return out;
  }

  /** A running sum of ciphertext vectors with one SEAL ciphertext per chunk (O(chunks) memory). */
  newSum(chunks: number): CiphertextSum {
    assertInteger(chunks, 'chunks', 1, 1 << 24);
    return new CiphertextSum(this, chunks);
  }

  /** Loads a checked wire ciphertext into a SEAL object (the caller deletes it). */
  load(wire: Uint8Array): SealCiphertextObject {
    const ct = new this.seal.Ciphertext();
    try {
      ct.loadFromArray(this.context, unpackCiphertext(wire, this.expectations));
    } catch (error) {
      ct.delete();
      if (error instanceof InvalidCiphertextError) throw error;
      throw new InvalidCiphertextError(`SEAL rejected the ciphertext: ${String(error)}`);
    }
    return ct;
  }

  addInto(sum: SealCiphertextObject, ct: SealCiphertextObject): void {
    this.evaluator.addInplace(sum, ct);
  }

  /**
   * A sum's residues (c0 then c1, NTT form, prime by prime) with the compact uploads' rounded c0
   * (Σ w′ mod q0, coefficient form) added to c0: a new array.
   */
  withRoundedC0(residues: Float64Array, rounded: Float64Array | undefined): Float64Array {
    if (!rounded) return residues;
    const compact = this.expectations.compactC0!;
    // c0 mod q0 only: the compact uploads' c0 is zero mod q1.
    const expanded = this.rnsKernel().expandRoundedC0(rounded, compact.multiplier);
    const out = residues.slice();
    const q0 = this.moduliNumbers[0]!;
    for (let r = 0; r < expanded.length; r++) {
      const value = out[r]! + expanded[r]!;
      out[r] = value >= q0 ? value - q0 : value;
    }
    return out;
  }

  /** The wire bytes of the NTT-form, scale-Δ ciphertext with these (reduced) residues. */
  packResidues(residues: Float64Array): Uint8Array {
    const { bytes, words } = this.templateCopy(2);
    bytes[SEAL_HEADER_BYTES + 32] = 1; // NTT form
    for (let i = 0; i < residues.length; i++) {
      const high = Math.floor(residues[i]! / 2 ** 32);
      words[2 * i] = residues[i]! - high * 2 ** 32;
      words[2 * i + 1] = high;
    }
    return packCiphertext(bytes, this.dataRns.moduli);
  }

  pack(ct: SealCiphertextObject): Uint8Array {
    return packCiphertext(this.save(ct), this.dataRns.moduli);
  }

  /**
   * Keyholder side: the partial decryption of every chunk of an aggregate C by keyholder `index`
   * (its key share `share`: data level, NTT form) when `responders` answer together — its
   * Lagrange weight for that set is applied here. What is decrypted is 2·C (parameters.ts,
   * section 2): d_i = 2·λ_i·s_i·c1 + f_i, with f_i a discrete Gaussian of deviation `floodSigma`
   * per coefficient (gaussian.ts), composed as K·high + low inside SEAL.
   */
  partialDecrypt(
    aggregate: readonly Uint8Array[],
    share: BigUint64Array,
    index: number,
    responders: readonly number[],
    floodSigma: number,
    random: RandomSource,
  ): Uint8Array[] {
    return this.partialDecryptWith(aggregate, share, index, responders, () =>
      sampleFloodingNoise(random, floodSigma, this.set.polyModulusDegree),
    );
  }

  /**
   * The partial decryption d_i = 2·λ_i·s_i·c1 WITHOUT flooding: only for a share that is already
   * public — the key ceremony's complaint step recomputes, from a share its dealer revealed, what
   * an honest responder's test partial is up to its flood (crypto/ckks/dealer-check.ts).
   */
  unfloodedPartialDecrypt(
    aggregate: readonly Uint8Array[],
    revealedShare: BigUint64Array,
    index: number,
    responders: readonly number[],
  ): Uint8Array[] {
    return this.partialDecryptWith(aggregate, revealedShare, index, responders, undefined);
  }

  private partialDecryptWith(
    aggregate: readonly Uint8Array[],
    share: BigUint64Array,
    index: number,
    responders: readonly number[],
    flood: (() => SplitGaussian) | undefined,
  ): Uint8Array[] {
    const { degree, moduli } = this.dataRns;
    if (share.length !== degree * moduli.length)
      throw new CryptoInputError('key share does not match the parameter set');
    const weights = lagrangeWeights(index, responders, moduli);
    const scaled = new BigUint64Array(share.length);
    moduli.forEach((q, j) => {
      const weight = (2n * weights[j]!) % q;
      for (let c = j * degree; c < (j + 1) * degree; c++) scaled[c] = (share[c]! * weight) % q;
    });
    const kernel = this.rnsKernel();
    kernel.setShare(scaled);
    scaled.fill(0n);
    const zero = new Float64Array(degree);
    try {
      return aggregate.map((wire) => {
        // Every check a load into SEAL made (both polynomials reduced), then c1 alone is read.
        checkCiphertext(wire, this.expectations);
        wireResidueWords(wire, this.expectations, 1, kernel.sumWords);
        const noise = flood?.();
        if (noise && noise.radix !== FLOOD_RADIX)
          throw new CryptoInputError('the flood does not use the kernel radix');
        kernel.flood(noise?.high ?? zero, noise?.low ?? zero);
        // (·, d_i): d_i alone travels (ciphertext-wire.ts), half a ciphertext.
        return packPartialDecryptionWords(kernel.partial(), this.expectations);
      });
    } finally {
      kernel.wipe();
    }
  }

  /** The WebAssembly kernel of this engine's data level (partials and combine). */
  private rnsKernel(): RnsKernel {
    return (this.kernel ??= new RnsKernel(this.dataRns.moduli, this.dataRns.tables, FLOOD_RADIX));
  }

  /**
   * Combiner side: c0 of every aggregate chunk plus the partials of the responding keyholders
   * (partials[r][k]: responder r, chunk k), decoded and cut to `dimension` values.
   */
  combine(
    aggregate: readonly Uint8Array[],
    partials: readonly (readonly Uint8Array[])[],
    dimension: number,
  ): Float64Array {
    if (
      dimension > aggregate.length * this.set.polyModulusDegree ||
      dimension <= (aggregate.length - 1) * this.set.polyModulusDegree
    )
      throw new CryptoInputError(`${aggregate.length} ciphertexts cannot hold ${dimension} values`);
    const out = new Float64Array(dimension);
    const degree = this.set.polyModulusDegree;
    const kernel = this.rnsKernel();
    // Chunk by chunk: the keyholders decrypted 2·C (parameters.ts, section 2), so 2·c0 + Σ d_i
    // is 2·m + noise (NTT form), brought back to coefficients and read at scale 2Δ.
    aggregate.forEach((wire, k) => {
      wireResidueWords(wire, this.expectations, 0, kernel.sumWords);
      kernel.double();
      for (const [r, responder] of partials.entries()) {
        const partialWire = responder[k];
        if (!partialWire) throw new InvalidCiphertextError(`responder ${r} sent no chunk ${k}`);
        try {
          partialDecryptionWords(partialWire, this.expectations, kernel.termWords);
        } catch (error) {
          if (!(error instanceof InvalidCiphertextError)) throw error;
          throw new InvalidCiphertextError(
            `responder ${r}: chunk ${k} is not a partial decryption (${error.message})`,
          );
        }
        kernel.addTerm();
      }
      const values = kernel.centred(2 * this.expectations.scale);
      out.set(values.subarray(0, Math.min(degree, dimension - k * degree)), k * degree);
    });
    return out;
  }

  private save(object: { saveToArray(mode: Seal['ComprModeType']['none']): unknown }): Uint8Array {
    return object.saveToArray(this.seal.ComprModeType.none) as Uint8Array;
  }
}

/** One update on its way into a CiphertextSum (see `CiphertextSum.begin`). */
export class PendingUpdate {
  private readonly engine: CkksEngine;
  private readonly expected: number;
  private readonly apply: (wires: Uint8Array[]) => void;
  private checked: Uint8Array[] = [];

  constructor(engine: CkksEngine, expected: number, apply: (wires: Uint8Array[]) => void) {
    this.engine = engine;
    this.expected = expected;
    this.apply = apply;
  }

  get size(): number {
    return this.checked.length;
  }

  /** Checks the next ciphertext (throws InvalidCiphertextError) and keeps it for `commit`. */
  push(wire: Uint8Array): void {
    if (this.checked.length >= this.expected)
      throw new InvalidCiphertextError(`more than the ${this.expected} ciphertexts of an update`);
    checkCiphertext(wire, this.engine.expectations);
    this.checked.push(wire);
  }

  commit(): void {
    if (this.checked.length !== this.expected) {
      throw new InvalidCiphertextError(
        `update has ${this.checked.length} ciphertexts; the round expects ${this.expected}`,
      );
    }
    const checked = this.checked;
    this.checked = [];
    this.apply(checked);
  }

  discard(): void {
    this.checked = [];
  }
}

/**
 * Sum of ciphertext vectors; an addition either takes every chunk of an update or none. The sum
 * is kept as residues (Numbers below 2^52) and added in JavaScript straight from the wire bytes:
 * exactly SEAL's addition of NTT-form ciphertexts of one scale, without loading uploads into SEAL.
 */
export class CiphertextSum {
  private readonly engine: CkksEngine;
  private readonly sums: (Float64Array | undefined)[];
  /** Per chunk, the sum of the compact uploads' rounded c0 (ciphertext-wire.ts, `CompactC0`). */
  private readonly rounded: (Float64Array | undefined)[];
  private contributions = 0;

  constructor(engine: CkksEngine, chunks: number) {
    this.engine = engine;
    this.sums = new Array<Float64Array | undefined>(chunks).fill(undefined);
    this.rounded = new Array<Float64Array | undefined>(chunks).fill(undefined);
  }

  get contributors(): number {
    return this.contributions;
  }

  /**
   * Starts one update: its ciphertexts are checked as they arrive (`push`) and join the sum only
   * on `commit`, all together; `discard` drops them. A bad chunk never touches the sum.
   */
  begin(): PendingUpdate {
    const size = 2 * this.engine.set.polyModulusDegree * this.engine.moduliNumbers.length;
    return new PendingUpdate(this.engine, this.sums.length, (wires) => {
      wires.forEach((wire, k) => {
        const sum = (this.sums[k] ??= new Float64Array(size));
        const rounded = isCompactWire(wire)
          ? (this.rounded[k] ??= new Float64Array(this.engine.set.polyModulusDegree))
          : undefined;
        addCiphertextInto(sum, wire, this.engine.expectations, rounded);
      });
      this.contributions++;
    });
  }

  /** Adds one whole update; throws InvalidCiphertextError and changes nothing if any chunk is bad. */
  add(update: readonly Uint8Array[]): void {
    const pending = this.begin();
    try {
      for (const wire of update) pending.push(wire);
      pending.commit();
    } catch (error) {
      pending.discard();
      throw error;
    }
  }

  /** The sum's chunks on the wire. */
  result(): Uint8Array[] {
    if (this.contributions === 0) throw new CryptoInputError('nothing was added');
    return this.sums.map((residues, k) =>
      this.engine.packResidues(this.engine.withRoundedC0(residues!, this.rounded[k])),
    );
  }

  dispose(): void {
    this.sums.fill(undefined);
    this.rounded.fill(undefined);
  }
}
