import { parseCiphertext, type SealCiphertext, SealFormatError } from './seal-serialization.ts';

/**
 * The checks a received ciphertext passes before it may be added to a running sum: it must parse
 * as an uncompressed SEAL ciphertext of the round's parameters (parameter id, size 2, NTT form,
 * degree, number of primes, scale), with every residue reduced modulo its prime.
 */
export interface CiphertextExpectations {
  readonly parmsId: Uint8Array;
  readonly polyModulusDegree: number;
  readonly moduli: readonly bigint[];
  readonly scale: number;
}

export class InvalidCiphertextError extends Error {
  override name = 'InvalidCiphertextError';
}

export function validateCiphertext(
  bytes: Uint8Array,
  expected: CiphertextExpectations,
): SealCiphertext {
  let ct: SealCiphertext;
  try {
    ct = parseCiphertext(bytes);
  } catch (error) {
    if (error instanceof SealFormatError) throw new InvalidCiphertextError(error.message);
    throw error;
  }
  const fail = (message: string): never => {
    throw new InvalidCiphertextError(message);
  };
  if (!Buffer.from(ct.parmsId).equals(Buffer.from(expected.parmsId)))
    fail('ciphertext was made for other encryption parameters (parms_id differs)');
  if (ct.size !== 2) fail(`ciphertext has ${ct.size} polynomials; a fresh encryption has 2`);
  if (!ct.nttForm) fail('ciphertext is not in NTT form');
  if (ct.polyModulusDegree !== expected.polyModulusDegree)
    fail(`poly modulus degree ${ct.polyModulusDegree}, expected ${expected.polyModulusDegree}`);
  if (ct.coeffModulusSize !== expected.moduli.length)
    fail(`${ct.coeffModulusSize} primes, expected ${expected.moduli.length}`);
  if (ct.scale !== expected.scale) fail(`scale ${ct.scale}, expected ${expected.scale}`);
  const n = expected.polyModulusDegree;
  for (let p = 0; p < ct.size; p++) {
    expected.moduli.forEach((q, j) => {
      const start = (p * expected.moduli.length + j) * n;
      for (let c = start; c < start + n; c++)
        if (ct.data[c]! >= q) fail(`residue ${c} is not reduced modulo its prime`);
    });
  }
  return ct;
}
