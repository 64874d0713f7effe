import { describe, expect, it } from '@jest/globals';
import {
  C0_ROUNDING_ERROR,
  compactWireLength,
  InvalidCiphertextError,
  packCiphertext,
  checkCiphertext,
  unpackCiphertext,
  wireLength,
  wireResidues,
} from '../../crypto/ckks/ciphertext-wire.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ceremonyReferencePolynomial, dealKeyShare } from '../../crypto/ckks/key-ceremony.ts';
import { ceremonyInProcess, partialsFor } from '../support/ckks-keys.ts';
import {
  DEFAULT_KEY_LIFE,
  floodingErrorSigma,
  floodingSigmaFor,
  statisticalSecurityBits,
  SUM_8192,
  TEST_4096,
} from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';

const engine = await CkksEngine.create(SUM_8192);
const THRESHOLD = 3;

// The ceremony's arithmetic among 5 keyholders: nobody holds the collective secret.
const { publicKey, shares } = ceremonyInProcess(engine, 5, THRESHOLD);
const key = engine.loadEncryptionKey(publicKey);
const floodSigma = floodingSigmaFor(SUM_8192, THRESHOLD, 5e-5);
const random = seededRandom(7);

const DIM = 10_000; // two ciphertexts of 8 192 values, the last one partly filled
const updates = [0, 1, 2, 3].map((client) =>
  Float32Array.from({ length: DIM }, (_, i) => Math.sin(client * 1000 + i)),
);
const expected = Float64Array.from({ length: DIM }, (_, i) =>
  updates.reduce((sum, u) => sum + u[i]!, 0),
);
const chunks = Math.ceil(DIM / engine.valuesPerCiphertext);
const encrypted = updates.map((u) => engine.encryptWithWitnesses(key, u, chunks, random).wires);
const sum = engine.newSum(chunks);
for (const update of encrypted) sum.add(update);
const aggregate = sum.result();

const thresholdDecrypt = (responders: number[]): Float64Array =>
  engine.combine(aggregate, partialsFor(engine, aggregate, shares, responders, floodSigma), DIM);
const maxError = (decoded: Float64Array) =>
  decoded.reduce((worst, v, i) => Math.max(worst, Math.abs(v - expected[i]!)), 0);

describe('CKKS engine on the 128-bit parameter set (N = 8192)', () => {
  it('chooses a flooding bound inside the precision budget', () => {
    expect(Math.log2(floodSigma)).toBeGreaterThan(75);
  });

  it('the measured decryption noise is the flooding the bound in parameters.ts assumes (≥ 40 bits over 1 000 rounds)', () => {
    const decoded = thresholdDecrypt([1, 2, 3]);
    let squares = 0;
    for (let i = 0; i < DIM; i++) squares += (decoded[i]! - expected[i]!) ** 2;
    const measured = Math.sqrt(squares / DIM);
    const predicted = floodingErrorSigma(SUM_8192, THRESHOLD, floodSigma);
    // 10 000 values: the sample deviation is within a few percent of the true one.
    expect(measured / predicted).toBeGreaterThan(0.93);
    expect(measured / predicted).toBeLessThan(1.07);
    // Read back the per-keyholder flood from the measurement and check the security it gives.
    const measuredFlood = (floodSigma * measured) / predicted;
    expect(Math.log2(measuredFlood)).toBeGreaterThan(75);
    expect(
      statisticalSecurityBits(SUM_8192, measuredFlood, DEFAULT_KEY_LIFE),
    ).toBeGreaterThanOrEqual(40);
    // And the precision target: 7σ of a value's error within 5e-5.
    expect(7 * measured).toBeLessThan(5.5e-5);
  });

  it.each([[[1, 2, 3]], [[1, 4, 5]], [[2, 3, 5]], [[3, 4, 5]], [[1, 2, 3, 4, 5]]])(
    'keyholders %j decrypt the sum of 4 encrypted updates',
    (responders) => {
      expect(maxError(thresholdDecrypt(responders))).toBeLessThan(1e-4);
    },
  );

  it('t − 1 keyholders get noise, not the sum', () => {
    expect(maxError(thresholdDecrypt([1, 2]))).toBeGreaterThan(1);
    expect(maxError(thresholdDecrypt([3, 5]))).toBeGreaterThan(1);
  });

  it('a partial computed for another responder set does not combine', () => {
    const [wrong] = partialsFor(engine, aggregate, shares, [1], floodSigma, [1, 2, 4]);
    const rest = partialsFor(engine, aggregate, shares, [2, 3], floodSigma, [1, 2, 3]);
    expect(maxError(engine.combine(aggregate, [wrong!, ...rest], DIM))).toBeGreaterThan(1);
  });

  it('a full ciphertext is rejected where a partial decryption is expected', () => {
    const partials = partialsFor(engine, aggregate, shares, [1, 2], floodSigma, [1, 2, 3]);
    expect(() => engine.combine(aggregate, [...partials, aggregate], DIM)).toThrow(
      /not a partial decryption/,
    );
  });

  it('a partial decryption travels as one polynomial: half a ciphertext, and never loads as one', () => {
    const [partial] = partialsFor(engine, aggregate, shares, [1], floodSigma, [1, 2, 3]);
    const ciphertextBytes = wireLength(engine.expectations);
    expect(partial![0]!.length).toBe(wireLength(engine.expectations, 1));
    expect(partial![0]!.length).toBeLessThan(0.51 * ciphertextBytes);
    expect(() => engine.load(partial![0]!)).toThrow(/ciphertext has 1 polynomials/);
  });
});

describe('CKKS engine on the small test parameter set (36-bit primes)', () => {
  it('threshold-decrypts a sum: the flood (σ_low = 2^35 > q/2) is reduced mod each prime', async () => {
    const small = await CkksEngine.create(TEST_4096);
    const keys = ceremonyInProcess(small, 3, 2, 5);
    const smallKey = small.loadEncryptionKey(keys.publicKey);
    const values = [0, 1].map((c) =>
      Float64Array.from({ length: 5000 }, (_, i) => Math.sin(c + i)),
    );
    const total = small.newSum(2);
    for (const v of values)
      total.add(small.encryptWithWitnesses(smallKey, v, 2, seededRandom(9)).wires);
    const sumWires = total.result();
    const sigma = floodingSigmaFor(TEST_4096, 2, 1e-3);
    const decoded = small.combine(
      sumWires,
      partialsFor(small, sumWires, keys.shares, [1, 3], sigma),
      5000,
    );
    const worst = decoded.reduce(
      (w, v, i) => Math.max(w, Math.abs(v - values[0]![i]! - values[1]![i]!)),
      0,
    );
    expect(worst).toBeLessThan(1e-3);
    smallKey.delete();
  });
});

describe('ciphertext wire format', () => {
  const wire = encrypted[0]![0]!;

  it('costs at most 26 bytes per parameter and round-trips SEAL bytes exactly', () => {
    expect(wire.length / engine.valuesPerCiphertext).toBeLessThanOrEqual(26.01);
    expect(wire.length).toBe(wireLength(engine.expectations));
    const sealBytes = unpackCiphertext(wire, engine.expectations);
    expect(packCiphertext(sealBytes, engine.dataRns.moduli)).toEqual(wire);
  });

  it('reads ciphertexts that arrive as Buffers inside shared memory at any offset (as gRPC delivers them)', () => {
    const pool = Buffer.alloc(wire.length + 3);
    const inside = pool.subarray(3);
    inside.set(wire);
    expect(unpackCiphertext(inside, engine.expectations)).toEqual(
      unpackCiphertext(wire, engine.expectations),
    );
    const sealBytes = Buffer.concat([Buffer.alloc(1), unpackCiphertext(wire, engine.expectations)]);
    expect(packCiphertext(sealBytes.subarray(1), engine.dataRns.moduli)).toEqual(wire);
  });

  const mutate = (edit: (bytes: Uint8Array) => void): Uint8Array => {
    const copy = wire.slice();
    edit(copy);
    return copy;
  };
  it.each([
    ['bad magic', mutate((b) => (b[0] = 0x41)), /bad magic/],
    ['foreign parameter id', mutate((b) => (b[10] = b[10]! ^ 1)), /parms_id/],
    ['different scale', mutate((b) => (b[43] = b[43]! ^ 1)), /scale/],
    ['coefficient form', mutate((b) => (b[50] = 0)), /NTT form/],
    ['a non-zero pad byte', mutate((b) => (b[51] = 7)), /pad byte/],
    [
      'another SEAL serialization version',
      mutate((b) => (b[52] = 99)),
      /SEAL serialization version/,
    ],
    ['three polynomials', mutate((b) => (b[49] = 3)), /3 polynomials/],
    ['truncated', wire.subarray(0, wire.length - 1), /bytes/],
    ['too short for a header', wire.subarray(0, 20), /truncated/],
    [
      'unreduced residue',
      // Low word and high bits of the first residue all ones: 2^52 − 1 ≥ q.
      mutate((b) => {
        b.fill(0xff, 54, 58);
        b.fill(0xff, 54 + 4 * 2 * 2 * 8192, 54 + 4 * 2 * 2 * 8192 + 2);
        b[54 + 4 * 2 * 2 * 8192 + 2] = b[54 + 4 * 2 * 2 * 8192 + 2]! | 0x0f;
      }),
      /not reduced/,
    ],
  ])('rejects %s', (_, bytes, message) => {
    expect(() => unpackCiphertext(bytes, engine.expectations)).toThrow(InvalidCiphertextError);
    expect(() => unpackCiphertext(bytes, engine.expectations)).toThrow(message);
    // The running sum and the proof verifier read with the same checks.
    expect(() => checkCiphertext(bytes, engine.expectations)).toThrow(message);
    expect(() => wireResidues(bytes, engine.expectations)).toThrow(message);
  });

  it('rejects an unreduced residue of c1 where only c1 is read (the proof verifier)', () => {
    const residues = 2 * 2 * 8192;
    const lowAt = 54 + 4 * (2 * 8192); // first residue of polynomial 1
    const highAt = 54 + 4 * residues + 2 * 8192 * (20 / 8); // its 20 high bits
    const bad = mutate((b) => {
      b.fill(0xff, lowAt, lowAt + 4);
      b.fill(0xff, highAt, highAt + 2);
      b[highAt + 2] = b[highAt + 2]! | 0x0f;
    });
    expect(() => wireResidues(bad, engine.expectations, 1)).toThrow(
      /polynomial 1, prime 0 is not reduced/,
    );
    expect(() => checkCiphertext(bad, engine.expectations)).toThrow(
      /polynomial 1, prime 0 is not reduced/,
    );
    expect(() => wireResidues(bad, engine.expectations, 0)).not.toThrow();
  });

  it('reads residues exactly as SEAL holds them, and sums them exactly as SEAL adds', () => {
    const seal = new BigUint64Array(
      new Uint8Array(unpackCiphertext(wire, engine.expectations).subarray(-2 * 2 * 8192 * 8))
        .buffer,
    );
    const numbers = wireResidues(wire, engine.expectations);
    expect(Array.from(numbers, BigInt)).toEqual(Array.from(seal));
    expect(wireResidues(wire, engine.expectations, 1)).toEqual(numbers.subarray(2 * 8192));
    // SEAL's own sum of the four updates' first chunk against CiphertextSum's.
    const total = engine.load(encrypted[0]![0]!);
    for (const update of encrypted.slice(1)) {
      const ct = engine.load(update[0]!);
      engine.addInto(total, ct);
      ct.delete();
    }
    expect(sum.result()[0]).toEqual(engine.pack(total));
    total.delete();
  });

  it('rejects a ciphertext of another parameter set', async () => {
    const other = await CkksEngine.create(TEST_4096);
    const reference = ceremonyReferencePolynomial(other.keyRns, new Uint8Array(32));
    const otherKey = other.loadEncryptionKey(
      other.publicKeyBytes(
        dealKeyShare(reference, other.keyRns, other.dataRns, 1, [1], seededRandom(1)).publicShare,
        reference,
      ),
    );
    const foreign = other.encryptWithWitnesses(otherKey, updates[0]!, 1, seededRandom(2)).wires[0]!;
    otherKey.delete();
    expect(() => engine.load(foreign)).toThrow(/parms_id/);
    // Its own parameters (36-bit primes, 4-bit high parts) round-trip.
    expect(
      packCiphertext(unpackCiphertext(foreign, other.expectations), other.dataRns.moduli),
    ).toEqual(foreign);
  });

  it('a bad chunk anywhere in an update leaves the running sum unchanged', () => {
    const running = engine.newSum(chunks);
    running.add(encrypted[0]!);
    const before = running.result();
    const broken = [...encrypted[1]!];
    broken[chunks - 1] = broken[chunks - 1]!.subarray(0, 100);
    expect(() => running.add(broken)).toThrow(InvalidCiphertextError);
    expect(() => running.add(encrypted[1]!.slice(1))).toThrow(/expects 2/);
    expect(running.contributors).toBe(1);
    expect(running.result()).toEqual(before);
    running.dispose();
  });
});

describe('compact uploads (c0 rounded, ciphertext-wire.ts CompactC0)', () => {
  const compact = updates.map(
    (u, m) =>
      engine.encryptWithWitnesses(key, u, chunks, seededRandom(40 + m), { compact: true }).wires,
  );
  // A flood far below the rounding (2^38 against 2Δ = 2^93): what remains is the rounding.
  const decode = (wires: readonly Uint8Array[]) =>
    engine.combine(wires, partialsFor(engine, wires, shares, [1, 2, 3], 2 ** 38 * 1.01), DIM);

  it('take 35 bits for c0 instead of 104: 17.4 bytes a value instead of 26', () => {
    expect(engine.expectations.compactC0).toMatchObject({ shift: 17, bits: 35 });
    expect(compact[0]![0]!.length).toBe(compactWireLength(engine.expectations));
    expect(compact[0]![0]!.length / engine.valuesPerCiphertext).toBeLessThan(17.4);
    expect(wireLength(engine.expectations) / engine.valuesPerCiphertext).toBeGreaterThan(26);
  });

  it('sum (alone and with full ciphertexts) to a full aggregate that decrypts within members × C0_ROUNDING_ERROR', () => {
    for (const mix of [compact, [encrypted[0]!, ...compact.slice(1)]]) {
      const running = engine.newSum(chunks);
      for (const update of mix) running.add(update);
      const wires = running.result();
      running.dispose();
      // The aggregate is a full ciphertext (keyholders and the combiner read full ones only).
      expect(wires[0]!.length).toBe(wireLength(engine.expectations));
      const error = maxError(decode(wires));
      expect(error).toBeLessThanOrEqual(updates.length * C0_ROUNDING_ERROR);
      // Rounding really happened (a full sum decodes to ~1e-15 at this flood).
      expect(error).toBeGreaterThan(1e-12);
    }
  });

  it('are never taken where a full ciphertext is needed (SEAL load, partial decryption, combine)', () => {
    const wire = compact[0]![0]!;
    expect(() => engine.load(wire)).toThrow(/compact/);
    expect(() => partialsFor(engine, [wire], shares, [1, 2, 3], floodSigma)).toThrow(/compact/);
    expect(() => engine.combine([wire], [[wire], [wire], [wire]], 10)).toThrow(/compact/);
  });

  it('refuse a rounded c0 above its range, a short or long wire: InvalidCiphertextError, the sum untouched', () => {
    const wire = compact[0]![0]!;
    const high = wire.slice();
    high.fill(0xff, wire.length - 5);
    const longer = new Uint8Array(wire.length + 1);
    longer.set(wire);
    const running = engine.newSum(chunks);
    for (const bad of [high, wire.subarray(0, wire.length - 1), longer]) {
      expect(() => checkCiphertext(bad, engine.expectations)).toThrow(InvalidCiphertextError);
      expect(() => running.add([bad, compact[0]![1]!])).toThrow(InvalidCiphertextError);
    }
    expect(() => checkCiphertext(high, engine.expectations)).toThrow(/above/);
    expect(running.contributors).toBe(0);
  });
});
