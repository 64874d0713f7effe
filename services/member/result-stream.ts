import { endianness } from 'node:os';
import { dequantizeSum, maxLevel, type QuantizationParams } from '../../crypto/quantize.ts';
import { type CkksParameterSet, floodingErrorSigma } from '../../crypto/ckks/parameters.ts';

/** Largest piece of the float64 sum a ResultChunk carries (the proto's contract). */
export const RESULT_CHUNK_BYTES = 1 << 20;

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * A finished round's sum as little-endian float64 pieces of at most 1 MiB, converted from the
 * coordinator's aggregate stream as it arrives (SecAgg: uint32 sums dequantized; CKKS: already
 * float64), so a GetResult call holds one piece at a time instead of the whole sum. `quantization`
 * is the SecAgg round's (undefined: CKKS). Pieces must arrive in order: the proto promises the
 * sum in order.
 */
export async function* floatSumPieces(
  aggregate: AsyncIterable<{ offsetWords: number; data: Uint8Array }>,
  dimension: number,
  contributors: number,
  quantization: QuantizationParams | undefined,
): AsyncGenerator<Buffer> {
  const valueBytes = quantization === undefined ? 8 : 4;
  const totalWords = (dimension * valueBytes) / 4;
  let nextWord = 0;
  for await (const { offsetWords, data } of aggregate) {
    if (offsetWords !== nextWord || data.length % valueBytes !== 0)
      throw new Error(
        `the coordinator's aggregate stream is out of order or cut inside a value (offset ${offsetWords} words, expected ${nextWord}; ${data.length} bytes)`,
      );
    nextWord += data.length / 4;
    if (nextWord > totalWords)
      throw new Error(
        `the coordinator's aggregate stream runs past the round's ${dimension} values`,
      );
    const float64 =
      quantization === undefined
        ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
        : littleEndian(dequantizeSum(wordsOf(data), contributors, quantization));
    for (let offset = 0; offset < float64.length; offset += RESULT_CHUNK_BYTES)
      yield float64.subarray(offset, offset + RESULT_CHUNK_BYTES);
  }
  if (nextWord !== totalWords)
    throw new Error(
      `the coordinator's aggregate stream ended after ${(nextWord * 4) / valueBytes} of the round's ${dimension} values`,
    );
}

/**
 * Bound on |sum − exact sum of the clipped inputs| per value. SecAgg: each contribution is
 * rounded stochastically to a neighbouring level, off by less than one step 2c/L. CKKS: the
 * keyholders' decryption flooding, sized so that its 7σ error stays within their `precision`
 * (services/keyholder config, default 5·10⁻⁵; the peer's config states the consortium's), plus
 * each contribution's encoding rounding, at most 2^−scaleBits.
 */
export function sumErrorBound(
  contributors: number,
  round:
    | { readonly quantization: QuantizationParams }
    | { readonly ckks: CkksParameterSet; readonly keyholderPrecision: number },
): number {
  if ('quantization' in round)
    return (contributors * 2 * round.quantization.clipRange) / maxLevel(round.quantization);
  return round.keyholderPrecision + contributors * 2 ** -round.ckks.scaleBits;
}

/**
 * The keyholders' 7σ decryption error per value, from what they attested on the ledger for the
 * round's key: each floods with at most σ_f (sized for `threshold` responders; more responders
 * each flood less, keyholder.ts), so a decoded value's flood is at most
 * 7·floodingErrorSigma(set, threshold, σ_f) — the keyholders' own precision, whatever the peer's
 * configuration says.
 */
export function attestedDecryptionPrecision(
  set: CkksParameterSet,
  threshold: number,
  floodingSigma: number,
): number {
  return 7 * floodingErrorSigma(set, threshold, floodingSigma);
}

function wordsOf(data: Uint8Array): Uint32Array {
  const aligned = data.byteOffset % 4 === 0 ? data : Uint8Array.from(data);
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  if (!LITTLE_ENDIAN) for (let i = 0; i < words.length; i++) words[i] = swap32(words[i]!);
  return words;
}

function littleEndian(values: Float64Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const bytes = Buffer.alloc(values.length * 8);
  for (let i = 0; i < values.length; i++) bytes.writeDoubleLE(values[i]!, i * 8);
  return bytes;
}

const swap32 = (word: number): number =>
  (((word & 0xff) << 24) | ((word & 0xff00) << 8) | ((word >>> 8) & 0xff00) | (word >>> 24)) >>> 0;
