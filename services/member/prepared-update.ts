import { createHash, randomFillSync } from 'node:crypto';
import { quantize, type QuantizationParams } from '../../crypto/quantize.ts';
import type { RandomSource } from '../../crypto/random.ts';
import { clippingReport, type ClippingReport } from '../../sdk/clipping-report.ts';
import { updateDigestOf } from '../../sdk/unmask-journal.ts';
import { freeBuffer } from './young-garbage.ts';

/** What a SecAgg round needs of a queued update, computed in one pass over its slices. */
export interface PreparedSecAggUpdate {
  /** The round's quantized levels: the one full-length vector the peer holds for the round. */
  readonly levels: Uint32Array;
  /** The re-run journal's digest of the float update (`updateDigest` of the floats). */
  readonly digest: string;
  /** SHA-256 of the float32 bytes read (hex): what the caller's header named when it was queued. */
  readonly payloadSha256: string;
  readonly clipping: ClippingReport;
}

/**
 * Reads a queued update slice by slice (UpdateQueue.slices) and quantizes each slice into the
 * round's levels, so the peer never holds the floats, their quantization noise and the levels of
 * the whole update at once (the SDK's `participate` does: three full-length vectors).
 */
export function prepareSecAgg(
  slices: Iterable<Float32Array>,
  dimension: number,
  params: QuantizationParams,
): PreparedSecAggUpdate {
  const random = reusedRandom();
  try {
    return prepareInto(slices, dimension, params, random);
  } finally {
    // The rounding's random bytes are not needed past the last slice: freed now, not at V8's
    // next collection (4 MiB under the round's levels otherwise).
    random.free();
  }
}

function prepareInto(
  slices: Iterable<Float32Array>,
  dimension: number,
  params: QuantizationParams,
  random: RandomSource,
): PreparedSecAggUpdate {
  const levels = new Uint32Array(dimension);
  const payload = createHash('sha256');
  let offset = 0;
  let clipping: ClippingReport = {
    clipRange: params.clipRange,
    clipped: 0,
    total: 0,
    largestMagnitude: 0,
    largestIndex: -1,
  };
  const digest = updateDigestOf(
    'f32',
    (function* () {
      for (const slice of slices) {
        if (offset + slice.length > dimension)
          throw new Error(`the queued update has more than the round's ${dimension} values`);
        clipping = merged(clipping, clippingReport(slice, params.clipRange), offset);
        quantize(slice, params, random, levels.subarray(offset, offset + slice.length));
        offset += slice.length;
        const bytes = new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength);
        payload.update(bytes);
        yield bytes;
      }
    })(),
  );
  if (offset !== dimension)
    throw new Error(`the queued update has ${offset} values, the round ${dimension}`);
  return { levels, digest, payloadSha256: payload.digest('hex'), clipping };
}

/**
 * Fresh random bytes (the system CSPRNG) in one buffer reused from slice to slice: `systemRandom`
 * allocates two buffers per call, 8 MiB of garbage per 4 MiB slice, which piled up as external
 * memory until the next full collection (most of the peer's peak during a round's preparation).
 * Each call's bytes are consumed by `quantize` before the next call overwrites them.
 */
function reusedRandom(): RandomSource & { free(): void } {
  let buffer = new Uint8Array(0);
  const random = (length: number) => {
    if (buffer.length < length) buffer = new Uint8Array(length);
    return randomFillSync(buffer.subarray(0, length));
  };
  return Object.assign(random, { free: () => freeBuffer(buffer.buffer) });
}

/**
 * A queued update read in slices: its journal digest (`updateDigest` of the floats) and the
 * SHA-256 of its bytes (what the caller's header named when it was queued), in one pass.
 */
export function digestsOfSlices(slices: Iterable<Float32Array>): {
  digest: string;
  payloadSha256: string;
} {
  const payload = createHash('sha256');
  const digest = updateDigestOf(
    'f32',
    (function* () {
      for (const slice of slices) {
        const bytes = new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength);
        payload.update(bytes);
        yield bytes;
      }
    })(),
  );
  return { digest, payloadSha256: payload.digest('hex') };
}

function merged(so: ClippingReport, slice: ClippingReport, offset: number): ClippingReport {
  const larger =
    so.largestIndex < 0 ||
    (slice.largestIndex >= 0 && slice.largestMagnitude > so.largestMagnitude);
  return {
    clipRange: so.clipRange,
    clipped: so.clipped + slice.clipped,
    total: so.total + slice.total,
    largestMagnitude: larger ? slice.largestMagnitude : so.largestMagnitude,
    largestIndex: larger ? offset + slice.largestIndex : so.largestIndex,
  };
}
