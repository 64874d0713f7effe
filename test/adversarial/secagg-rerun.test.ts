import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { dequantizeSum } from '../../crypto/quantize.ts';
import type { SecAggResult } from '../../crypto/secagg/server.ts';
import type { VeilsumError } from '../../sdk/errors.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { type HarnessRound, MaliciousCoordinator } from '../support/malicious-coordinator.ts';

/**
 * Differencing across re-runs, against the unmodified member SDK over mTLS gRPC. The coordinator
 * runs a round with all eight members, collects every Unmask reveal (so it holds Σ x over all
 * eight), then never closes it and opens a "next" round of the same model without member 1. The
 * seven others take part again with the update they already had — what a script does when it is
 * told to retry. If the second round completes, the difference of the two sums is x_1.
 */
const MEMBERS = 8;
const DIMENSION = 16;
const QUANTIZATION = { clipRange: 1, levelBits: 16, modulusBits: 32 };

const updateOf = (member: number) =>
  Float32Array.from({ length: DIMENSION }, (_, j) => Math.sin(3 * member + j) / 2);

/** Semi-malicious, complete graph, t above (n + γn)/2. */
const complete = (members: string[]): HarnessRound => ({
  members,
  degree: members.length - 1,
  threshold: members.length - 2,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 0.125,
  dimension: DIMENSION,
});

describe('SecAgg: a coordinator that re-runs a round without one member', () => {
  let consortium: Consortium;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'rerun');
  });
  afterAll(() => rmSync(consortium.directory, { recursive: true, force: true }));

  async function round(
    coordinator: MaliciousCoordinator,
    members: string[],
    roundNumber: number,
    training: { update?: (member: number) => Float32Array; trainedFrom?: string } = {},
  ): Promise<{ refused: { member: string; error: VeilsumError }[]; sum?: SecAggResult }> {
    const opened = await coordinator.open(complete(members), roundNumber);
    const clients = members.map((member) =>
      VeilsumClient.connect({
        ...consortium.profile(member, coordinator.port),
        retry: { totalMs: 2_000, initialDelayMs: 50, maxDelayMs: 200 },
        ledger: coordinator.ledgerFor(member),
        ledgerWaitMs: 6_000,
        // Each member's journal, as its profile would keep it next to itself.
        journal: join(consortium.directory, `${member}.journal`),
      }),
    );
    try {
      const outcomes = await Promise.allSettled(
        clients.map((client, i) =>
          client.participate(
            opened.roundId,
            (training.update ?? updateOf)(consortium.members.indexOf(members[i]!) + 1),
            {
              waitForResult: false,
              ...(training.trainedFrom ? { trainedFrom: training.trainedFrom } : {}),
            },
          ),
        ),
      );
      const refused = outcomes.flatMap((outcome, i) =>
        outcome.status === 'rejected'
          ? [{ member: members[i]!, error: outcome.reason as VeilsumError }]
          : [],
      );
      let sum: SecAggResult | undefined;
      try {
        sum = coordinator.sum();
      } catch {
        // Too little arrived to unmask anything.
      }
      return { refused, ...(sum ? { sum } : {}) };
    } finally {
      for (const client of clients) client.close();
    }
  }

  it('the members it re-runs refuse to put the same update into a second sum, so x_1 stays hidden', async () => {
    const coordinator = new MaliciousCoordinator(consortium, {}, 'rerun');
    await coordinator.start();
    try {
      const first = await round(coordinator, consortium.members, 1);
      expect(first.refused).toEqual([]);
      expect(first.sum?.included).toHaveLength(MEMBERS);
      // "Aborted" (never closed); the next round of the same model leaves member 1 out.
      const others = consortium.members.slice(1);
      const second = await round(coordinator, others, 2);

      // Everything the coordinator received: if it holds a second sum, it subtracts.
      if (second.sum !== undefined) {
        const difference = first.sum!.sum.map((word, i) => word - second.sum!.sum[i]!);
        const recovered = dequantizeSum(difference, 1, QUANTIZATION);
        const x1 = updateOf(1);
        const error = Math.max(...recovered.map((value, i) => Math.abs(value - x1[i]!)));
        // Within the two runs' rounding noise, x_1 itself.
        expect({ recoveredWithin: error < 1e-3, included: second.sum.included }).toEqual({
          recoveredWithin: false,
          included: second.sum.included,
        });
      }
      expect(second.sum).toBeUndefined();
      expect(second.refused.map(({ member }) => member)).toEqual(others);
      for (const { error } of second.refused) {
        expect(error.code).toBe(9);
        expect(error.message).toMatch(
          /refusing round attack\/round-2: this update already went into round attack\/round-1 \(model attack, round number 1\)/,
        );
      }
      // Nothing of the second round was uploaded or revealed.
      expect(coordinator.participantSets().advertised).toEqual([]);
    } finally {
      await coordinator.stop();
    }
  }, 120_000);

  it('a re-run of the same training slot is refused even when each update is a one-ulp near copy; the next model version is taken', async () => {
    const coordinator = new MaliciousCoordinator(consortium, {}, 'rerun-near');
    await coordinator.start();
    // Model v1's updates (not the first test's: the journals are the same), and the same
    // training run again (another GPU, a re-serialised checkpoint): a few ulps away.
    const trainedOnV1 = (member: number) => updateOf(member + MEMBERS);
    const nearCopyOf = (member: number) =>
      Float32Array.from(trainedOnV1(member), (value) => Math.fround(value * (1 + 2 ** -23)));
    const modelV1 = 'sha256:' + 'a1'.repeat(32);
    try {
      const first = await round(coordinator, consortium.members, 11, {
        update: trainedOnV1,
        trainedFrom: modelV1,
      });
      expect(first.refused).toEqual([]);
      expect(first.sum?.included).toHaveLength(MEMBERS);
      // Never closed; "round 12" without member 1, every other member retrained from model v1.
      const others = consortium.members.slice(1);
      const second = await round(coordinator, others, 12, {
        update: nearCopyOf,
        trainedFrom: modelV1,
      });
      let x1RecoveredWithin: number | undefined;
      if (second.sum !== undefined) {
        const difference = first.sum!.sum.map((word, i) => word - second.sum!.sum[i]!);
        const recovered = dequantizeSum(difference, 1, QUANTIZATION);
        const x1 = trainedOnV1(1);
        x1RecoveredWithin = Math.max(...recovered.map((value, i) => Math.abs(value - x1[i]!)));
      }
      expect({
        x1RecoveredWithin,
        refused: second.refused.map(({ member }) => member),
      }).toEqual({ x1RecoveredWithin: undefined, refused: others });
      for (const { error } of second.refused)
        expect(error.message).toMatch(
          /an update trained from sha256:a1a1\S* already went into round attack\/round-11/,
        );
      expect(coordinator.participantSets().advertised).toEqual([]);
      // The next model version is a new slot: the same members take part again.
      const next = await round(coordinator, consortium.members, 13, {
        update: (member) => Float32Array.from(trainedOnV1(member), (value) => -value / 2),
        trainedFrom: 'sha256:' + 'b2'.repeat(32),
      });
      expect(next.refused).toEqual([]);
      expect(next.sum?.included).toHaveLength(MEMBERS);
    } finally {
      await coordinator.stop();
    }
  }, 180_000);
});
