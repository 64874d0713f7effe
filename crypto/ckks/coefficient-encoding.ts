import { CryptoInputError } from '../validate.ts';

/**
 * Coefficient encoding for sum-only CKKS: value i of a ciphertext is round(Δ·x_i) in coefficient i
 * of the plaintext polynomial, so one ciphertext of ring degree N holds N values (the slot
 * encoding holds N/2) and decryption noise reaches a value unamplified (parameters.ts §5). Sums
 * of ciphertexts are sums of these polynomials, coefficient by coefficient; nothing else is asked
 * of the encoding. Pure arithmetic on Numbers: moduli below 2^52, every step exact.
 */

/**
 * Writes (round(Δ·x_c) + noise_c) mod q_j into out[j·N + c] for every data prime q_j, the
 * coefficients past `values.length` holding the noise alone. Δ·x is exact as a double for the
 * Δ = 2^k used here (a power of two scales without rounding) and `%` on doubles is exact
 * (IEEE fmod), so the residues are those of the integer round(Δ·x) as the double holds it.
 */
export function encodeCoefficients(
  values: ArrayLike<number>,
  scale: number,
  maxAbs: number,
  moduli: readonly number[],
  noise: ArrayLike<number>,
  out: Float64Array,
): Float64Array {
  const degree = noise.length;
  if (values.length > degree)
    throw new CryptoInputError(`${values.length} values do not fit in ${degree} coefficients`);
  if (out.length !== degree * moduli.length)
    throw new CryptoInputError('output does not match the ring degree and moduli');
  for (let c = 0; c < values.length; c++) {
    const x = values[c]!;
    if (!(Math.abs(x) <= maxAbs))
      throw new CryptoInputError(
        `value ${c} is ${x}; a value must be finite and within ±${maxAbs} to be encrypted`,
      );
  }
  moduli.forEach((q, j) => {
    const base = j * degree;
    for (let c = 0; c < degree; c++) {
      const m = c < values.length ? Math.round(scale * values[c]!) % q : 0;
      // |m| < q and |noise| < q: the sum lies in (−2q, 2q), exact below 2^53.
      let residue = m + noise[c]!;
      if (residue < 0) residue += q;
      if (residue < 0) residue += q;
      if (residue >= q) residue -= q;
      out[base + c] = residue;
    }
  });
  return out;
}

/** a·b mod q for 0 ≤ a, b < q < 2^52, exactly, in doubles (26-bit halves; fmod is exact). */
export function mulMod(a: number, b: number, q: number): number {
  const a1 = Math.floor(a / 2 ** 26);
  const a0 = a - a1 * 2 ** 26;
  const b1 = Math.floor(b / 2 ** 26);
  const b0 = b - b1 * 2 ** 26;
  let t = (a1 * b1) % q;
  t = (t * 2 ** 26) % q;
  t = (t + ((a1 * b0) % q)) % q;
  t = (t + ((a0 * b1) % q)) % q;
  t = (t * 2 ** 26) % q;
  return (t + ((a0 * b0) % q)) % q;
}

/** x⁻¹ mod q (q prime) by Fermat, with mulMod. */
export function inverseMod(x: number, q: number): number {
  let result = 1;
  let base = x % q;
  let exponent = q - 2;
  while (exponent > 0) {
    if (exponent % 2 === 1) result = mulMod(result, base, q);
    base = mulMod(base, base, q);
    exponent = Math.floor(exponent / 2);
  }
  return result;
}

/**
 * The signed integers in (−Q/2, Q/2) whose residues mod the moduli are `residues` (primes·N,
 * coefficient form), each divided by `scale`. Garner's mixed-radix reconstruction in exact
 * modular arithmetic, then one Horner evaluation in doubles: the result carries a relative error
 * of about 2^-52, far below the flooding noise any decryption holds.
 */
export function centredValues(
  residues: Float64Array,
  moduli: readonly number[],
  scale: number,
): Float64Array {
  const primes = moduli.length;
  const degree = residues.length / primes;
  if (!Number.isInteger(degree) || primes === 0)
    throw new CryptoInputError('residues do not match the moduli');
  // inverses[j][i] = q_i⁻¹ mod q_j for i < j.
  const inverses = moduli.map((qj, j) => moduli.slice(0, j).map((qi) => inverseMod(qi % qj, qj)));
  const out = new Float64Array(degree);
  const digits = new Float64Array(primes);
  for (let c = 0; c < degree; c++) {
    for (let j = 0; j < primes; j++) {
      const qj = moduli[j]!;
      let digit = residues[j * degree + c]!;
      for (let i = 0; i < j; i++) {
        digit -= digits[i]! % qj;
        if (digit < 0) digit += qj;
        digit = mulMod(digit, inverses[j]![i]!, qj);
      }
      digits[j] = digit;
    }
    // value = d0 + q0·(d1 + q1·(d2 + …)); above Q/2 it stands for value − Q, which the top
    // digit taken as d − q_top gives.
    const top = primes - 1;
    const qTop = moduli[top]!;
    let value = digits[top]! >= (qTop - 1) / 2 ? digits[top]! - qTop : digits[top]!;
    for (let j = top - 1; j >= 0; j--) value = value * moduli[j]! + digits[j]!;
    out[c] = value / scale;
  }
  return out;
}
