/**
 * What clipping will do to an update before it is sent: a round clips every value to
 * [−clipRange, clipRange], silently. A data scientist needs to know how many values that changes,
 * the largest, and what clip range would have kept them.
 */
export interface ClippingReport {
  readonly clipRange: number;
  readonly clipped: number;
  readonly total: number;
  /** The largest |value| and where it is (−1 when the update is empty). */
  readonly largestMagnitude: number;
  readonly largestIndex: number;
}

export function clippingReport(values: ArrayLike<number>, clipRange: number): ClippingReport {
  let clipped = 0;
  let largestMagnitude = 0;
  let largestIndex = -1;
  for (let i = 0; i < values.length; i++) {
    const magnitude = Math.abs(values[i]!);
    if (magnitude > clipRange) clipped++;
    if (magnitude > largestMagnitude || largestIndex < 0) {
      largestMagnitude = magnitude;
      largestIndex = i;
    }
  }
  return { clipRange, clipped, total: values.length, largestMagnitude, largestIndex };
}

/** The warning to print, or undefined when nothing is clipped. */
export function clippingWarning(report: ClippingReport): string | undefined {
  if (report.clipped === 0) return undefined;
  const share = ((100 * report.clipped) / report.total).toPrecision(2);
  // A power-of-two-ish round number at or above the largest value: what to ask for.
  const suggested =
    Number(report.largestMagnitude.toPrecision(2)) >= report.largestMagnitude
      ? Number(report.largestMagnitude.toPrecision(2))
      : Number((report.largestMagnitude * 1.05).toPrecision(2));
  return (
    `${report.clipped} of ${report.total} values (${share}%) lie outside the round's clip range ±${report.clipRange} ` +
    `and will be clipped, so the aggregate undercounts them; the largest is ${report.largestMagnitude} at index ${report.largestIndex}. ` +
    `A clip range of ${suggested} would keep every value (the round's administrator sets it: round open --clip ${suggested}); ` +
    `a larger range makes each quantization step coarser.`
  );
}
