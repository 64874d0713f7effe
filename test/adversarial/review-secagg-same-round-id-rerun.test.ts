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
 * Review (attacker): the re-run journal exempts "the same round id" (a restart mid-round: one
 * sum), but the round id is the coordinator's choice, exactly as the journal's own comment says
 * of model ids and round numbers. Without a ledger (the CLI default) nothing stops the
 * coordinator from serving a second, different round — other roster, other params hash, fresh
 * graph seed, so another binding — under the id of the first. Members that retry with the update
 * they already had pass the journal, and the difference of the two sums is x_1.
 */
const MEMBERS = 8;
const DIMENSION = 16;
const QUANTIZATION = { clipRange: 1, levelBits: 16, modulusBits: 32 };

const updateOf = (member: number) =>
  Float32Array.from({ length: DIMENSION }, (_, j) => Math.sin(3 * member + j) / 2);

const complete = (members: string[]): HarnessRound => ({
  members,
  degree: members.length - 1,
  threshold: members.length - 2,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 0.125,
  dimension: DIMENSION,
  ledger: false,
});

describe('review: the journal trusts a round id the coordinator chooses', () => {
  let consortium: Consortium;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'review-same-id');
  });
  afterAll(() => rmSync(consortium.directory, { recursive: true, force: true }));

  async function round(
    coordinator: MaliciousCoordinator,
    members: string[],
  ): Promise<{ refused: { member: string; error: VeilsumError }[]; sum?: SecAggResult }> {
    // Always "round 1": the same round id, attack/round-1.
    const opened = await coordinator.open(complete(members), 1);
    const clients = members.map((member) =>
      VeilsumClient.connect({
        ...consortium.profile(member, coordinator.port),
        retry: { totalMs: 2_000, initialDelayMs: 50, maxDelayMs: 200 },
        journal: join(consortium.directory, `${member}.journal`),
      }),
    );
    try {
      const outcomes = await Promise.allSettled(
        clients.map((client, i) =>
          client.participate(
            opened.roundId,
            updateOf(consortium.members.indexOf(members[i]!) + 1),
            { waitForResult: false },
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

  it('a second sum served under the first round id is refused, so x_1 stays hidden', async () => {
    const coordinator = new MaliciousCoordinator(consortium, {}, 'review-same-id');
    await coordinator.start();
    try {
      const first = await round(coordinator, consortium.members);
      expect(first.refused).toEqual([]);
      expect(first.sum?.included).toHaveLength(MEMBERS);
      const others = consortium.members.slice(1);
      const second = await round(coordinator, others);
      let recoveredWithin = false;
      if (second.sum !== undefined) {
        const difference = first.sum!.sum.map((word, i) => word - second.sum!.sum[i]!);
        const recovered = dequantizeSum(difference, 1, QUANTIZATION);
        const x1 = updateOf(1);
        const error = Math.max(...recovered.map((value, i) => Math.abs(value - x1[i]!)));
        recoveredWithin = error < 1e-3;
      }
      expect({
        secondSum: second.sum !== undefined,
        x1Recovered: recoveredWithin,
        refused: second.refused.map(({ member }) => member),
      }).toEqual({ secondSum: false, x1Recovered: false, refused: others });
    } finally {
      await coordinator.stop();
    }
  }, 120_000);
});
