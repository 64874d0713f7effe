import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_KEY_LIFE,
  dataModulusBits,
  extractedNoiseVariance,
  floodingAnalysis,
  floodingSigmaFor,
  honestNoiseVariance,
  PROOF,
  proofSoundnessBits,
  samplerExcess,
  SUM_8192,
} from '../../crypto/ckks/parameters.ts';

describe('the deployed CKKS parameter set (parameters.ts arithmetic)', () => {
  it('stays within the 128-bit HE-standard bound at N = 8192 (log QP ≤ 218)', () => {
    expect(SUM_8192.coeffModulusBits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(218);
  });

  it('decrypts 2·(sums up to ±256) at scale 2Δ below Q/2 with room for flood and extracted noise', () => {
    const headroomBits = dataModulusBits(SUM_8192) - 1 - (SUM_8192.scaleBits + 1 + 8);
    expect(headroomBits).toBeGreaterThanOrEqual(1.5);
    const flood = floodingSigmaFor(SUM_8192, 5, 1e-4) * Math.sqrt(5) * 13;
    const extracted = 13 * Math.sqrt(extractedNoiseVariance(SUM_8192, DEFAULT_KEY_LIFE));
    expect(Math.log2(flood + extracted)).toBeLessThan(SUM_8192.scaleBits + 1 + 8 - 20);
  });

  it.each([
    [2, 5e-5],
    [3, 5e-5],
    [5, 5e-5],
    [3, 1e-4],
  ])(
    't = %d at precision %d: ≥ 40 bits over 1 000 rounds of 123 ciphertexts against extracted witnesses',
    (threshold, precision) => {
      const { statSecurityBits, honestSecurityBits } = floodingAnalysis(
        SUM_8192,
        threshold,
        precision,
      );
      expect(statSecurityBits).toBeGreaterThanOrEqual(40);
      expect(honestSecurityBits).toBeGreaterThan(statSecurityBits);
    },
  );

  it('charges the sampler as implemented: its excess over the ideal Gaussian, and a statistical distance', () => {
    const { sigma, statSecurityBits, statisticalDistanceLog2 } = floodingAnalysis(
      SUM_8192,
      3,
      5e-5,
    );
    const life = DEFAULT_KEY_LIFE;
    const coefficients = life.rounds * life.ciphertextsPerRound * SUM_8192.polyModulusDegree;
    const ideal = (coefficients * extractedNoiseVariance(SUM_8192, life)) / (2 * sigma ** 2);
    const excess = samplerExcess(sigma, extractedNoiseVariance(SUM_8192, life));
    // The Box–Muller arithmetic and grid dominate the ideal 2^-54.9 by far, and still leave > 40.
    // Without RLWE's independence of e, s from the witnesses (|x_c| ≤ ‖v*‖‖e‖ + ‖e*‖‖s‖, two
    // equal terms: a factor 2·N = 2^14 on the variance) the ideal term still gives > 40 bits.
    expect(-Math.log2(ideal)).toBeGreaterThan(54);
    expect(-Math.log2(ideal) - Math.log2(2 * SUM_8192.polyModulusDegree)).toBeGreaterThan(40);
    expect(-Math.log2((coefficients / 2) * excess.perPair)).toBeLessThan(50);
    expect(statSecurityBits).toBeLessThan(-Math.log2(ideal) - 5);
    expect(statSecurityBits).toBeGreaterThanOrEqual(40);
    // Pinsker: SD ≤ √(KL/2); the tail cut (2^-130 a pair) adds nothing visible.
    expect(statisticalDistanceLog2).toBeCloseTo(-(statSecurityBits + 1) / 2, 3);
  });

  it('the proof slack is what the flooding pays for: extracted noise ≫ honest noise', () => {
    const ratio =
      extractedNoiseVariance(SUM_8192, DEFAULT_KEY_LIFE) /
      honestNoiseVariance(SUM_8192, DEFAULT_KEY_LIFE);
    expect(Math.log2(ratio)).toBeGreaterThan(30);
  });

  it('refuses a precision target that would leave less than 40 bits', () => {
    expect(() => floodingSigmaFor(SUM_8192, 5, 2e-7)).toThrow(
      /3\d\.\d bits of statistical security .*at least 40 required/,
    );
  });

  it('proof soundness after Fiat–Shamir grinding is at least 128 bits', () => {
    expect(proofSoundnessBits()).toBeGreaterThanOrEqual(128);
    expect(PROOF.repetitions * Math.log2(PROOF.challengeOrder + 1)).toBe(proofSoundnessBits());
  });
});
