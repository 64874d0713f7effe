import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy, encodeSafetensors, floatAggregate } from '../../sdk/aggregate-result.ts';
import { parseNpy, parseSafetensors } from '../../sdk/update-file.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, FIXTURE_POLICY } from '../support/consortium.ts';
import { secAggParams, withCoordinator } from '../faults/fault-harness.ts';

function veilsum(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['cli/veilsum.ts', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

describe('a SecAgg result comes back as floats (sum, average, error bound)', () => {
  it('undoes the fixed-point encoding: sum and average within the stated bound', () => {
    const quantization = { clipRange: 1, levelBits: 16, modulusBits: 32 };
    const step = 2 / 65535;
    // Three contributions of 0.5 at every level: their levels sum to 3·(1.5/step).
    const level = Math.round(1.5 / step);
    const modularSum = new Uint32Array(4).fill(3 * level);
    const result = floatAggregate(modularSum, 3, quantization);
    expect(result.quantizationStep).toBeCloseTo(step, 15);
    expect(result.sumErrorBound).toBeCloseTo(3 * step, 15);
    for (const value of result.sum)
      expect(Math.abs(value - 1.5)).toBeLessThan(result.sumErrorBound);
    for (const value of result.average)
      expect(Math.abs(value - 0.5)).toBeLessThan(result.sumErrorBound / 3);
    expect(() => floatAggregate(modularSum, 0, quantization)).toThrow(/at least one contribution/);
  });

  it('writes .npy and .safetensors files the update readers (and numpy) parse back', () => {
    const values = Float64Array.from([0.25, -1.5, 3, 1e-3]);
    expect(Array.from(parseNpy(encodeNpy(values)))).toEqual(Array.from(Float32Array.from(values)));
    const npy = encodeNpy(values);
    // numpy requires the header (with its 10-byte prefix) to end on a 64-byte boundary.
    expect((10 + npy.readUInt16LE(8)) % 64).toBe(0);
    const tensors = encodeSafetensors({ sum: values, average: values.map((v) => v / 2) });
    // Tensors are flattened in name order: average, then sum.
    expect(Array.from(parseSafetensors(tensors))).toEqual(
      Array.from(Float32Array.from([...values.map((v) => v / 2), ...values])),
    );
    expect((8 + Number(tensors.readBigUInt64LE(0))) % 8).toBe(0);
  });

  describe('`veilsum round result` on a finished round', () => {
    const env = withCoordinator(3, 'floats');

    it('writes the float sum (npy), the average (f64) and both (safetensors), printing the bound', async () => {
      const admin = VeilsumClient.connect(env.consortium.profile(ADMIN, env.coordinator.port));
      const members = env.consortium.members.map((member) =>
        VeilsumClient.connect({
          ...env.consortium.profile(member, env.coordinator.port),
          threatModel: FIXTURE_POLICY,
        }),
      );
      try {
        const round = await admin.openRound(
          secAggParams(env.consortium.members, 1, { dimension: 8 }),
        );
        const updates = [0.5, -0.25, 0.125].map((value) => new Float32Array(8).fill(value));
        await Promise.all(
          members.map((client, i) => client.participate(round.roundId, updates[i]!)),
        );
        const expectedSum = 0.375;

        const profile = env.consortium.profilePath(ADMIN, env.coordinator.port);
        const npyPath = join(env.consortium.directory, 'sum.npy');
        const printed = await veilsum([
          'round',
          'result',
          round.roundId,
          '--profile',
          profile,
          '--out',
          npyPath,
          '--json',
        ]);
        expect(printed.stderr).toBe('');
        const summary = JSON.parse(printed.stdout) as Record<string, unknown>;
        expect(summary).toMatchObject({ format: 'npy', wrote: 'sum', contributions: 3, values: 8 });
        const bound = summary.sumErrorBound as number;
        expect(bound).toBeCloseTo((3 * 2) / 65535, 12);
        for (const value of parseNpy(readFileSync(npyPath)))
          expect(Math.abs(value - expectedSum)).toBeLessThan(bound + 1e-7);

        const averagePath = join(env.consortium.directory, 'average.f64');
        const averaged = await veilsum([
          'round',
          'result',
          round.roundId,
          '--profile',
          profile,
          '--out',
          averagePath,
          '--average',
        ]);
        expect(averaged.stdout).toContain('average of 3 contributions');
        expect(averaged.stdout).toMatch(/within [0-9.e-]+ of the exact sum/);
        const average = new Float64Array(new Uint8Array(readFileSync(averagePath)).buffer);
        for (const value of average)
          expect(Math.abs(value - expectedSum / 3)).toBeLessThan(bound / 3);

        const bothPath = join(env.consortium.directory, 'result.safetensors');
        expect(
          (
            await veilsum([
              'round',
              'result',
              round.roundId,
              '--profile',
              profile,
              '--out',
              bothPath,
            ])
          ).code,
        ).toBe(0);
        const both = parseSafetensors(readFileSync(bothPath));
        expect(both.length).toBe(16);
        expect(Math.abs(both[0]! - expectedSum / 3)).toBeLessThan(bound);
        expect(Math.abs(both[8]! - expectedSum)).toBeLessThan(bound + 1e-7);
      } finally {
        admin.close();
        for (const client of members) client.close();
      }
    }, 120_000);
  });
});
