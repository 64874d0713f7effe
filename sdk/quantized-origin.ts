import { maxLevel, type QuantizationParams } from '../crypto/quantize.ts';
import { ownBytes, ownLength, updateDigestOf } from './unmask-journal.ts';

/**
 * The re-run journal's digest (`updateDigest`) of the float update that `levels` were quantized
 * from, read again from `floats` (slice by slice, e.g. from a file), after checking that every
 * level is one of the two stochastic roundings (`quantize`) of its float. A caller naming the
 * update by its floats' digest (ParticipateOptions.updateSha256) must show those floats: an
 * unchecked digest would let levels of one update be journalled as another, and a re-run round
 * collect the same update twice. Each slice's elements are checked and its own storage hashed
 * (ownBytes: a Float32Array subclass cannot show the hash other floats than the check reads).
 * Throws naming the first value that does not fit.
 */
export function digestOfQuantizedFrom(
  levels: Uint32Array,
  floats: Iterable<Float32Array>,
  params: QuantizationParams,
): string {
  const { clipRange } = params;
  const top = maxLevel(params);
  const scale = top / (2 * clipRange);
  let offset = 0;
  const digest = updateDigestOf(
    'f32',
    (function* () {
      for (const slice of floats) {
        const length = ownLength(slice);
        if (offset + length > levels.length)
          throw new Error(`the floats have more values than the ${levels.length} levels`);
        for (let i = 0; i < length; i++) {
          const value = slice[i]!;
          const clipped = value > clipRange ? clipRange : value < -clipRange ? -clipRange : value;
          const floor = Math.floor((clipped + clipRange) * scale);
          const level = levels[offset + i]!;
          if (level !== floor && level !== Math.min(floor + 1, top))
            throw new Error(
              `level ${level} at index ${offset + i} is not a rounding of its float ${value} (levels ${floor} or ${Math.min(floor + 1, top)})`,
            );
        }
        offset += length;
        yield ownBytes(slice);
      }
    })(),
  );
  if (offset !== levels.length)
    throw new Error(`the floats have ${offset} values, the levels ${levels.length}`);
  return digest;
}
