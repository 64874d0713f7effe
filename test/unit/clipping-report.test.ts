import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { clippingReport, clippingWarning } from '../../sdk/clipping-report.ts';

describe('clipping report (what a clip range will silently change)', () => {
  it('counts the values outside ±clip and names the largest, and suggests a range that keeps it', () => {
    const report = clippingReport(Float32Array.from([0.5, -5, 1, 2.5]), 1);
    expect(report).toEqual({
      clipRange: 1,
      clipped: 2,
      total: 4,
      largestMagnitude: 5,
      largestIndex: 1,
    });
    const warning = clippingWarning(report)!;
    expect(warning).toMatch(/^2 of 4 values \(50%\) lie outside the round's clip range ±1/);
    expect(warning).toContain('the largest is 5 at index 1');
    expect(warning).toContain('round open --clip 5');
  });

  it('says nothing when every value fits (the bound itself is kept)', () => {
    expect(clippingWarning(clippingReport(Float32Array.from([1, -1, 0.25]), 1))).toBeUndefined();
  });

  it('the suggested range is never below the largest value', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1 }),
        fc.double({ min: 1e-3, max: 10, noNaN: true }),
        (values, clip) => {
          const report = clippingReport(values, clip);
          expect(report.clipped).toBe(values.filter((v) => Math.abs(v) > clip).length);
          const warning = clippingWarning(report);
          if (warning === undefined) return;
          const suggested = Number(/--clip ([0-9.e+-]+)/.exec(warning)![1]);
          expect(suggested).toBeGreaterThanOrEqual(report.largestMagnitude);
        },
      ),
    );
  });
});
