import { describe, expect, it } from '@jest/globals';
import { parseOpenFheBaseline } from '../../benchmarks/ckks/openfhe-baseline.ts';

// A line as threshold-sum.cpp prints it (from a run of the built binary).
const LINE =
  '{"library":"OpenFHE","version":"1.5.1","ringDim":8192,"parties":3,"clients":1,"dim":10000,' +
  '"ciphertexts":3,"repeats":1,"clientEncryptParamsPerSec":292723,"partialDecryptMs":25.3,' +
  '"combineMs":15.9,"maxAbsError":6.02e-07}';

describe('the OpenFHE baseline report', () => {
  it('keeps every figure the baseline printed and the threads it was given', () => {
    const report = parseOpenFheBaseline(LINE, 2);
    expect(report).toMatchObject({
      version: '1.5.1',
      ciphertexts: 3,
      partialDecryptMs: 25.3,
      combineMs: 15.9,
    });
    expect(report.threads).toBe(2);
  });

  it('refuses output that is not a complete report', () => {
    expect(() => parseOpenFheBaseline('Segmentation fault', 2)).toThrow(/no JSON report/);
    const withoutCombine = JSON.parse(LINE) as Record<string, unknown>;
    delete withoutCombine.combineMs;
    expect(() => parseOpenFheBaseline(JSON.stringify(withoutCombine), 2)).toThrow(/combineMs/);
    expect(() =>
      parseOpenFheBaseline(LINE.replace('"combineMs":15.9', '"combineMs":-1'), 2),
    ).toThrow(/combineMs/);
    expect(() => parseOpenFheBaseline(LINE.replace('"OpenFHE"', '"SEAL"'), 2)).toThrow(
      /library version/,
    );
  });
});
